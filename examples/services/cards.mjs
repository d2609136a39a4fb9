// The card-authorization switch (apps/cards) as an app of the example config: ISO 8583 on 127.0.0.1:8583
// (PURSER_CARDS_PORT overrides), CARDS.ISSUE and CARDS.STATUS on the bus. Its default export starts it.
export { default } from 'purser/apps/cards';

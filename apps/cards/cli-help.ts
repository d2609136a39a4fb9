/**
 * The help of `purser cards`, apart from the command so the CLI can show it without loading the app.
 */
export const CARDS_COMMAND_HELP = {
  summary: 'the card switch (apps/cards): load-test a running switch and check its books',
  usage: 'purser cards load [--tps N] [--duration S] [--cards C] [--merchants M] [--hot-merchants H] [--connections K] [options]',
  help: () => [
    'Drives the switch of a running node (npm start) over TCP with real ISO 8583 messages and ARQCs: authorizations,',
    'captures, reversals (some before their original), repeats, mini-statements, declines and malformed messages.',
    'Prints progress, authorizations/s, latency p50/p99/p999 and answers by response code, then checks the books.',
    'Exit 0 when the books check passes, 1 when it fails.',
    'Options:',
    '  --tps <n>             messages per second, new operations and their follow-ups (default 1000)',
    '  --duration <s>        seconds of load (default 10)',
    '  --cards <n>           cards issued first through CARDS.ISSUE (default 1000)',
    '  --merchants <n>       merchants (default 100); --hot-merchants <n> of them take half the traffic (default 5)',
    '  --connections <n>     TCP connections to the switch (default 8)',
    '  --address <host:port> the ISO 8583 listener (default 127.0.0.1:$PURSER_CARDS_PORT, else 127.0.0.1:8583)',
    "  --bus-address <host:port> the node's bus listener (default PURSER_BUS_ADDRESS, else 127.0.0.1:7700)",
    '  --statements <n>      cards whose mini-statement is compared with the ledger (default 100)',
    '  --seed <n>            seed of the message mix (default 1)',
    "  --bin <digits> --imk <hex>  the issuer (default 999999 and the example config's test key)",
  ].join('\n'),
};

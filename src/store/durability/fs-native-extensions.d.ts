// The part of fs-native-extensions (holepunch; prebuilt binaries inside the package) that the directory
// lock uses. The package ships no type declarations.
declare module 'fs-native-extensions' {
  /** true if the exclusive lock on the whole file was granted, false if another open file description holds it. */
  export function tryLock(fd: number, options?: { shared?: boolean }): boolean;
  const nativeFs: { tryLock: typeof tryLock };
  export default nativeFs;
}

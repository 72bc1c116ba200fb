#!/usr/bin/env node
// The package bin, and the gateway's entry point (`npm start`, the Docker image). Node runs the
// TypeScript sources directly (type stripping, Node >= 22.18); this shim checks the runtime,
// turns on Node's compile cache and hands over to src/cli.ts.
//
// The compile cache keeps each module's stripped and compiled code on disk (NODE_COMPILE_CACHE,
// or Node's default directory under the temp directory). With it warm, a start strips no
// TypeScript, so Node never loads its TypeScript compiler (a WebAssembly module): about 18 MiB
// less resident memory for the gateway's whole life (docs/performance.md). It is enabled here,
// in plain JavaScript, because a .ts entry point would load the compiler to read itself.
// `odock-server prepare` fills the cache; the Docker image runs it at build.
import { enableCompileCache } from 'node:module';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `odock-server needs Node.js >= 22.18 (24 LTS recommended); this is ${process.version}.\n` +
      'Install it with: npm install -g node@24\n',
  );
  process.exit(1);
}
// A cache that cannot be opened (read-only directory) only costs the memory it would save.
enableCompileCache();
await import('../src/cli.ts');

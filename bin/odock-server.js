#!/usr/bin/env node
// The package bin. Node runs the TypeScript sources directly (type stripping, Node >= 22.18),
// so this shim only checks the runtime and hands over to src/cli.ts.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `odock-server needs Node.js >= 22.18 (24 LTS recommended); this is ${process.version}.\n` +
      'Install it with: npm install -g node@24\n',
  );
  process.exit(1);
}
await import('../src/cli.ts');

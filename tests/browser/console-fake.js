// console.spec.js against the console's fake API (services/web/console/dev-server.js)
// instead of a real `youma serve`: checks the built console on its own.
//
//   (cd services/web/console && npm ci && npm run build)
//   node tests/browser/console-fake.js [DIST_DIR]
'use strict';

const path = require('path');
const { spawn } = require('child_process');

const consoleDir = path.resolve(__dirname, '../../services/web/console');
const dist = path.resolve(process.argv[2] || path.join(consoleDir, 'dist'));
const server = spawn(process.execPath, [path.join(consoleDir, 'dev-server.js'), '--port', '0', '--dist', dist, '--quiet'],
                     { stdio: ['ignore', 'pipe', 'inherit'] });
const stopServer = () => {
  if (server.exitCode === null) server.kill();
};
process.on('exit', stopServer);

let out = '';
server.stdout.on('data', (chunk) => {
  out += chunk;
  const m = /http:\/\/127\.0\.0\.1:(\d+)\/console\//.exec(out);
  if (!m || server.started) return;
  server.started = true;
  const spec = spawn(process.execPath, [path.join(__dirname, 'console.spec.js')], {
    stdio: 'inherit',
    env: { ...process.env, YOUMA_HTTP: `http://127.0.0.1:${m[1]}`, YOUMA_ADMIN_TOKEN: 'ym_dev_admin',
           YOUMA_DIVERSION_CASE: '1000008', YOUMA_DIVERSION_PROVINCE: '广东省', YOUMA_EXPECT_BATCHES: '2', YOUMA_BATCHES_PER_PAGE: '1' },
  });
  spec.on('exit', (code) => {
    stopServer();
    process.exit(code === null ? 1 : code);
  });
});
server.on('exit', (code) => {
  if (!server.started) {
    process.stderr.write(`dev-server.js exited (${code}) before listening\n`);
    process.exit(1);
  }
});

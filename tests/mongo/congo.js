// Start CongoDB (a MongoDB wire-protocol server in JavaScript, in memory)
// for Parley's tests:
//   node congo.js [--port N] [--modules DIR] [--port-file FILE] [--watch-pid PID]
// Listens on 127.0.0.1 only, port N (0, the default, picks a free one),
// prints "port N" on stdout once it listens (and writes N to FILE), and
// exits on SIGTERM/SIGINT or as soon as the process that started it is
// gone (or process PID, when given: a ctest fixture watches ctest itself).
// DIR is where install.sh put node_modules (default: beside this file).
'use strict';

const path = require('path');
const fs = require('fs');

function arg(name, dflt) {
    const i = process.argv.indexOf(name);
    return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

const port = Number(arg('--port', '0'));
const modules = path.resolve(arg('--modules', path.join(__dirname, 'node_modules')));
const portFile = arg('--port-file', null);
const watchPid = Number(arg('--watch-pid', '0'));
const congo = path.join(modules, '@push.rocks', 'smartmongo', 'dist_ts', 'congodb');

if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error('congo.js: --port ' + arg('--port') + ' is not a port');
    process.exit(2);
}

async function main() {
    const { CongoServer } = await import(path.join(congo, 'index.js'));
    const { HelloHandler } = await import(path.join(congo, 'server', 'handlers', 'HelloHandler.js'));

    // CongoDB answers an awaitable hello (one carrying topologyVersion) at
    // once instead of holding it, so a pooled mongo-c-driver monitor asks
    // again at once, forever. Without topologyVersion in the reply the
    // driver falls back to polling every heartbeatFrequencyMS.
    const handle = HelloHandler.prototype.handle;
    HelloHandler.prototype.handle = async function (context) {
        const reply = await handle.call(this, context);
        if (reply && typeof reply === 'object')
            delete reply.topologyVersion;
        return reply;
    };

    const server = new CongoServer({ port, host: '127.0.0.1', storage: 'memory' });
    await server.start();
    const actual = server.server.address().port;
    if (portFile)
        fs.writeFileSync(portFile + '.tmp', String(actual) + '\n');
    if (portFile)
        fs.renameSync(portFile + '.tmp', portFile);
    process.stdout.write('port ' + actual + '\n');

    let stopping = false;
    const stop = (code) => {
        if (stopping)
            return;
        stopping = true;
        const t = setTimeout(() => process.exit(code), 2000);
        t.unref();
        server.stop().then(() => process.exit(code), () => process.exit(code));
    };
    process.on('SIGTERM', () => stop(0));
    process.on('SIGINT', () => stop(0));
    // The parent is gone when we are re-parented (to init or a subreaper).
    const parent = process.ppid;
    setInterval(() => {
        if (watchPid > 0) {
            try {
                process.kill(watchPid, 0);
            } catch (e) {
                if (e.code === 'ESRCH')
                    stop(0);
            }
        } else if (process.ppid !== parent) {
            stop(0);
        }
    }, 250);
}

main().catch((e) => {
    console.error('congo.js: ' + (e && e.stack ? e.stack : e));
    process.exit(1);
});

/**
 * The long soak: `npx tsx test/reliability-soak.ts [--minutes 30] [--clients 50] [--fps 2] [--json]`.
 * Starts the same system as reliability-load.test.ts (real `familiar start`, replay camera, fake LVLM on
 * loopback) and drives it with many WebSocket clients for as long as asked, printing progress on stderr and a
 * JSON report (memory samples included) as the last line of stdout. Exit code 1 when anything failed.
 */
import { parseArgs } from 'node:util';
import { runSoak } from './support/reliability-load.ts';
import { SOAK_CAMERA, SOAK_VIEWER, startSoakSystem } from './support/reliability-soak-setup.ts';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    clients: { type: 'string', default: '50' },
    fps: { type: 'string', default: '2' },
    pause: { type: 'string', default: '4000' },
  },
});
const minutes = Number(values.minutes);
const clients = Number(values.clients);
const fps = Number(values.fps);
if (!(minutes > 0) || !Number.isInteger(clients) || clients < 1 || !(fps > 0)) {
  process.stderr.write('usage: npx tsx test/reliability-soak.ts [--minutes N] [--clients N] [--fps N] [--pause MS]\n');
  process.exit(2);
}

const system = await startSoakSystem({ clients, fps });
let failed = true;
try {
  process.stderr.write(`familiar start at ${system.rt.url}; ${clients} clients for ${minutes} min\n`);
  const report = await runSoak({
    url: system.rt.url,
    token: SOAK_VIEWER,
    pid: system.rt.pid,
    cameraId: SOAK_CAMERA,
    clients,
    durationMs: minutes * 60_000,
    baselineMs: 10_000,
    warmupMs: Math.min(60_000, minutes * 15_000),
    askPauseMs: Number(values.pause),
    progress: (line) => process.stderr.write(`${line}\n`),
  });
  const errorLines = system.rt.logLines().filter((l) => l.level === 'error');
  failed = Object.keys(report.errors).length > 0 || errorLines.length > 0 || system.rt.proc.exitCode !== null;
  process.stdout.write(
    `${JSON.stringify({ ...report, runtimeErrorLogLines: errorLines.length, fpsRatio: report.fpsUnderLoad / report.fpsBaseline, rssGrowthKiBPerAsk: (report.rssGrowthMiB * 1024) / Math.max(1, report.asksAfterWarmup) })}\n`,
  );
} finally {
  await system.close();
}
process.exitCode = failed ? 1 : 0;

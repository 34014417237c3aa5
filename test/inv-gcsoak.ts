// temporary investigation script (deleted before finishing)
import { writeFileSync } from 'node:fs';
import { runSoak } from './support/reliability-load.ts';
import { SOAK_CAMERA, SOAK_VIEWER, startSoakSystem } from './support/reliability-soak-setup.ts';
process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --trace-gc`;
const minutes = Number(process.argv[2] ?? 4);
const system = await startSoakSystem({ clients: 50, fps: 2 });
try {
  const report = await runSoak({ url: system.rt.url, token: SOAK_VIEWER, pid: system.rt.pid, cameraId: SOAK_CAMERA, clients: 50, durationMs: minutes * 60_000, baselineMs: 5000, askPauseMs: 4000, progress: (l) => process.stderr.write(l + '\n') });
  writeFileSync('/tmp/inv/report.json', JSON.stringify(report));
} finally {
  writeFileSync('/tmp/inv/stderr.txt', system.rt.stderr());
  await system.close();
}

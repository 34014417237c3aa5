// Child process for memory-kill.test.ts: writes to a store as fast as it can and prints one line per
// acknowledged (durable) write, until the test kills it with SIGKILL.
import path from 'node:path';
import { ConceptStore, Memory, SightingsLog } from '@familiar/memory';

const [mode, dir] = process.argv.slice(2) as [string, string];

function unitVector(dim: number): Float32Array {
  const v = new Float32Array(dim);
  let n = 0;
  for (let i = 0; i < dim; i++) {
    v[i] = Math.random() - 0.5;
    n += v[i]! * v[i]!;
  }
  n = Math.sqrt(n);
  for (let i = 0; i < dim; i++) v[i]! /= n;
  return v;
}

if (mode === 'concepts') {
  const store = await ConceptStore.open(dir);
  for (let i = 0; ; i++) {
    const views = Array.from({ length: 4 }, (_, j) => ({ space: 'face' as const, vector: unitVector(128), origin: `photo-${j}.jpg` }));
    const c = await store.add({ name: `p-${process.pid}-${i}`, kind: 'person', views });
    process.stdout.write(`A ${c.id}\n`);
    // Replacing an existing file exercises the rename-over path too.
    await store.update(c.id, { context: `updated ${i}`, addViews: [{ space: 'face', vector: unitVector(128), origin: 'more.jpg' }] });
    process.stdout.write(`U ${c.id}\n`);
  }
} else if (mode === 'sightings') {
  const log = await SightingsLog.open(path.join(dir, 'sightings.jsonl'), { flushMs: 5, updatePersistMs: 100 });
  for (let i = 0; ; i++) {
    const s = log.begin({ conceptId: `c${i % 7}`, trackId: `t${i}`, cameraId: 'cam', room: 'hall', at: Date.now(), box: { xmin: 0, ymin: 0, xmax: 10, ymax: 10 }, confidence: 0.5 });
    log.update(s.id, { at: Date.now() + 1, box: { xmin: 1, ymin: 1, xmax: 11, ymax: 11 } });
    if (i % 2 === 0) log.end(s.id);
    await log.flush();
    process.stdout.write(`S ${s.id}\n`);
  }
}
 else if (mode === 'memory') {
  const memory = await Memory.open(dir);
  const person = memory.concepts.findByName('Anna') ?? (await memory.concepts.add({ name: 'Anna', kind: 'person', views: [{ space: 'face', vector: unitVector(128), origin: 'anna.jpg' }] }));
  for (let i = 0; ; i++) {
    const note = await memory.notes.add({ conceptIds: [person.id], speaker: 'kill-test', text: `note ${process.pid}-${i}` });
    process.stdout.write(`N ${note.id}\n`);
    if (i % 3 === 0) {
      const t = await memory.triggers.add({ conceptId: person.id, message: `hello ${i}`, createdBy: 'kill-test', once: false });
      process.stdout.write(`T ${t.id}\n`);
      await memory.preferences.merge(person.id, { likes: [`thing ${process.pid}-${i}`] });
      process.stdout.write(`P thing ${process.pid}-${i}\n`);
    }
  }
}

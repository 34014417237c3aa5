import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CONCEPT_KINDS, FamiliarError, scaleBox, snakeCaseKeys, toFamiliarError, type ConceptKind, type Logger } from '@familiar/contracts';
import { loadConfig, loadModelsManifest, type ResolvedConfig } from '@familiar/config';
import { renderOverlay } from '@familiar/image';
import { fetchModels, openModel } from '@familiar/vision';
import { createConsoleHandler } from '@familiar/console';
import { redactCredentials, toWireConcept } from '@familiar/dialogue';
import { buildCohort, evaluateDataset, formatBenchTable, runBench, type BenchSize, type Progress } from '@familiar/evaluation';
import { FamiliarCore, Household, Runtime, type ImageRecognition } from '@familiar/runtime';
import { MEMORY_COMMANDS } from './cli-memory.ts';

const USAGE = `familiar — knows its household

Usage:
  familiar enrol --name NAME --kind person|pet|object [--context TEXT] PHOTO...
  familiar recognise IMAGE [--json] [--overlay OUT.jpg]
  familiar list [--json]
  familiar update NAME|ID [--name NEW] [--context TEXT]
  familiar forget NAME|ID
  familiar last-seen [NAME|ID] [--json]
  familiar notes NAME|ID [--json]
  familiar remind "if Anna shows up, remind me to call the doctor" [--by NAME]
  familiar triggers [cancel ID] [--json]
  familiar preferences NAME|ID [--json]
  familiar unknowns [name ID --name NAME [--context TEXT] | dismiss ID] [--json]
  familiar eval --dataset DIR [--dataset DIR…] [--live] [--json] [--corrections]
                   several --dataset: every concept enrolled into one store (a household), ids
                   prefixed with the folder name; rows with an empty concepts_present are negative
                   images. --live: each query played as a 2 s still sequence through the live engine
  familiar cohort build --dataset DIR [--dataset DIR…] [--out FILE]
                   embeddings of the negative images (empty concepts_present) of the datasets,
                   written to the models manifest's cohort file (or FILE); never pixels
  familiar models verify
  familiar models fetch [BASE_URL]
  familiar start [--profile NAME] [--port N]
  familiar bench [--quick] [--json] [--out FILE]
                   measure every stage, the live runtime and matching; prints a table (with --json:
                   the table on stderr, one JSON summary as the last stdout line) and writes the full
                   report to bench-report.json (or FILE). --quick: under a minute, smaller sizes

Global options:
  --profile NAME   device profile in devices/ (default: env FAMILIAR_PROFILE or x86-dev)
  --config FILE    extra YAML merged over the profile
  --store DIR      store directory (default: config store.dir, env FAMILIAR_STORE_DIR)
  --models DIR     models directory (default: config models.dir, env FAMILIAR_MODELS_DIR)
  -h, --help       this text
`;

const OPTIONS = {
  profile: { type: 'string' },
  config: { type: 'string' },
  store: { type: 'string' },
  models: { type: 'string' },
  name: { type: 'string' },
  kind: { type: 'string' },
  context: { type: 'string' },
  json: { type: 'boolean', default: false },
  overlay: { type: 'string' },
  dataset: { type: 'string', multiple: true },
  live: { type: 'boolean', default: false },
  quick: { type: 'boolean', default: false },
  corrections: { type: 'boolean', default: false },
  port: { type: 'string' },
  out: { type: 'string' },
  by: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies ParseArgsConfig['options'];

type Values = {
  [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K] extends { multiple: true } ? string[] : (typeof OPTIONS)[K]['type'] extends 'string' ? string : boolean;
};

function usageError(message: string): FamiliarError {
  return new FamiliarError('INPUT_INVALID', `${message}\n\n${USAGE}`);
}

function configFrom(values: Values): ResolvedConfig {
  const env = { ...process.env };
  if (values.store) env.FAMILIAR_STORE_DIR = values.store;
  if (values.models) env.FAMILIAR_MODELS_DIR = values.models;
  let overrides: Record<string, unknown> | undefined;
  if (values.port !== undefined) {
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw usageError('--port must be an integer 0..65535');
    overrides = { server: { port } };
  }
  return loadConfig({ ...(values.profile && { profile: values.profile }), ...(values.config && { file: values.config }), ...(overrides && { overrides }), env });
}

function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

function progressBar(): Progress | undefined {
  const tty = process.stderr.isTTY;
  let lastDecile = -1;
  return (done, total, label) => {
    if (tty) {
      const width = 30;
      const filled = Math.round((done / total) * width);
      process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${label.slice(0, 40).padEnd(40)}`);
      if (done === total) process.stderr.write('\n');
    } else {
      const decile = Math.floor((done / total) * 10);
      if (decile !== lastDecile) {
        lastDecile = decile;
        process.stderr.write(`${done}/${total} ${label}\n`);
      }
    }
  };
}

async function withCore<T>(values: Values, fn: (core: FamiliarCore) => Promise<T>, readOnly = false): Promise<T> {
  const config = configFrom(values);
  const core = await FamiliarCore.open(config, config.paths.storeDir, { readOnly });
  try {
    return await fn(core);
  } finally {
    await core.close();
  }
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true }) as {
    values: Values;
    positionals: string[];
  };
  const [command, ...args] = positionals;
  if (values.help || !command) {
    print(USAGE);
    return command || values.help ? 0 : 2;
  }
  const memoryCommand = Object.hasOwn(MEMORY_COMMANDS, command) ? MEMORY_COMMANDS[command] : undefined;
  if (memoryCommand) {
    const value = await withCore(
      values,
      (core) => memoryCommand.run(new Household(core), args, { json: values.json ?? false, ...(values.name !== undefined && { name: values.name }), ...(values.context !== undefined && { context: values.context }), ...(values.by !== undefined && { by: values.by }), print }),
      memoryCommand.readOnly(args),
    );
    if (values.json) print(JSON.stringify(value));
    return 0;
  }
  switch (command) {
    case 'enrol':
    case 'enroll': {
      if (!values.name) throw usageError('enrol needs --name');
      if (!values.kind || !CONCEPT_KINDS.includes(values.kind as ConceptKind)) throw usageError('enrol needs --kind person|pet|object');
      if (args.length === 0) throw usageError('enrol needs at least one PHOTO');
      const res = await withCore(values, (core) =>
        core.enrol({ name: values.name!, kind: values.kind as ConceptKind, context: values.context ?? '', photos: args.map((file) => ({ file })) }),
      );
      for (const r of res.rejected) process.stderr.write(`skipped ${r.origin}: ${r.code}: ${r.message}\n`);
      if (values.json) print(JSON.stringify({ concept: toWireConcept(res.concept), rejected: res.rejected }));
      else print(`enrolled ${res.concept.kind} "${res.concept.name}" (${res.concept.id}) from ${res.concept.viewCount} view(s); thresholds ${JSON.stringify(res.concept.thresholds)}`);
      return 0;
    }
    case 'recognise':
    case 'recognize': {
      if (args.length !== 1) throw usageError('recognise needs exactly one IMAGE');
      const file = args[0]!;
      if (values.overlay !== undefined) checkOverlayPath(values.overlay);
      await withCore(
        values,
        async (core) => {
        const rec = await core.recognise({ file });
        if (values.overlay) await writeOverlay(values.overlay, rec);
        const { image: _image, scale: _scale, unknownFaces, ...report } = rec;
        if (values.json) print(JSON.stringify(snakeCaseKeys({ image: file, ...report, unknownFaces: unknownFaces.map((f) => f.box) })));
        else if (rec.matches.length === 0) print(`${file}: no enrolled concept recognised`);
        else
          for (const m of rec.matches)
            print(`${m.name} (${m.kind}) at [${m.box.xmin}, ${m.box.ymin}, ${m.box.xmax}, ${m.box.ymax}] similarity ${m.similarity.toFixed(3)} (threshold ${m.threshold.toFixed(3)}) confidence ${m.confidence.toFixed(2)}`);
        },
        true,
      );
      return 0;
    }
    case 'list': {
      const concepts = await withCore(values, async (core) => core.list(), true);
      if (values.json) print(JSON.stringify(concepts.map(toWireConcept)));
      else if (concepts.length === 0) print('nobody and nothing enrolled yet');
      else for (const c of concepts) print(`${c.name} (${c.kind}, ${c.viewCount} views) ${c.id}${c.context ? ` — ${c.context}` : ''}`);
      return 0;
    }
    case 'update': {
      if (args.length !== 1) throw usageError('update needs exactly one NAME or ID');
      if (values.name === undefined && values.context === undefined) throw usageError('update needs --name and/or --context');
      const c = await withCore(values, (core) => core.update(args[0]!, { ...(values.name !== undefined && { name: values.name }), ...(values.context !== undefined && { context: values.context }) }));
      print(values.json ? JSON.stringify(toWireConcept(c)) : `updated "${c.name}" (${c.id})`);
      return 0;
    }
    case 'forget': {
      if (args.length !== 1) throw usageError('forget needs exactly one NAME or ID');
      const c = await withCore(values, (core) => core.forget(args[0]!));
      print(values.json ? JSON.stringify(toWireConcept(c)) : `forgot "${c.name}" (${c.id}) and every view of it`);
      return 0;
    }
    case 'eval': {
      if (!values.dataset?.length) throw usageError('eval needs --dataset DIR');
      const report = await evaluateDataset(configFrom(values), values.dataset, {
        progress: progressBar(),
        corrections: values.corrections ?? false,
        live: values.live ?? false,
      });
      if (!values.json) {
        const f = (x: number | null) => (x === null ? '   –' : x.toFixed(1).padStart(5));
        print(`${report.dataset}: ${report.concepts} concepts, ${report.queries} queries (${report.mode}), ${report.seconds} s`);
        print(`concept                 precision positive negative`);
        for (const c of report.perConcept) print(`${c.concept.padEnd(24)}${f(c.precision)}    ${f(c.positive)}    ${f(c.negative)}`);
        print(`${'mean'.padEnd(24)}${f(report.metrics.precision)}    ${f(report.metrics.positive)}    ${f(report.metrics.negative)}   weighted ${f(report.metrics.weighted)}`);
        const n = report.negatives;
        if (n) {
          const cats = n.byCategory.map((c) => `${c.category} ${c.falseAcceptImages}/${c.images}`).join(', ');
          print(`negative images with a false name: ${n.falseAcceptImages} of ${n.images} (${n.rate.toFixed(1)} %) — ${cats}`);
        }
        if (report.live) {
          const l = report.live;
          print(`live: ${l.framesPerQuery} frames per query at ${l.fps} fps; first name after ${l.framesToFirstName.median ?? '–'} frames / ${l.msToFirstName.median ?? '–'} ms (median), ${l.framesToFirstName.max ?? '–'} / ${l.msToFirstName.max ?? '–'} ms (worst)`);
        }
        for (const r of report.rejected) process.stderr.write(`rejected ${r.origin}: ${r.code}: ${r.message}\n`);
        const k = report.corrections;
        if (k) {
          print(`corrections: ${k.applied} false positive(s) of half the queries answered "that's not X"; ${k.fixed} fixed there, ${k.lostTruePositives} true positive(s) lost, ${k.newFalsePositives} new false positive(s)`);
          print(`held-out half (${k.heldOut.queries} queries, never corrected): false positives ${k.heldOut.falsePositivesBefore} → ${k.heldOut.falsePositivesAfter}, precision ${f(k.heldOut.metricsBefore.precision)} → ${f(k.heldOut.metricsAfter.precision)}, weighted ${f(k.heldOut.metricsBefore.weighted)} → ${f(k.heldOut.metricsAfter.weighted)}`);
          print(`${'after corrections'.padEnd(24)}${f(k.metrics.precision)}    ${f(k.metrics.positive)}    ${f(k.metrics.negative)}   weighted ${f(k.metrics.weighted)}`);
        }
      }
      // The machine-readable result is always the last line of stdout with --json.
      if (values.json) print(JSON.stringify(snakeCaseKeys(report)));
      return 0;
    }
    case 'cohort': {
      if (args[0] !== 'build') throw usageError('cohort needs a subcommand: build');
      if (!values.dataset?.length) throw usageError('cohort build needs --dataset DIR');
      const config = configFrom(values);
      const manifest = loadModelsManifest(config.paths.modelsManifest);
      const out = values.out ?? (manifest.cohort ? path.resolve(path.dirname(config.paths.modelsManifest), manifest.cohort) : undefined);
      if (!out) throw usageError('cohort build needs --out FILE (the models manifest names no cohort file)');
      const report = await buildCohort(config, values.dataset, out, progressBar());
      for (const r of report.rejected) process.stderr.write(`rejected ${r.file}: ${r.code}\n`);
      print(values.json ? JSON.stringify(snakeCaseKeys(report)) : `cohort of ${report.images} images written to ${report.file}: ${Object.entries(report.entries).map(([s, n]) => `${n} ${s}`).join(', ')} embeddings`);
      return 0;
    }
    case 'models': {
      const config = configFrom(values);
      const manifest = loadModelsManifest(config.paths.modelsManifest);
      if (args[0] === 'fetch') {
        const report = await fetchModels(manifest, config.paths.modelsDir, {
          ...(args[1] && { baseUrl: args[1] }),
          onProgress: (file, state) => print(`${state.padEnd(8)}${file}`),
        });
        print(`${report.fetched.length} fetched, ${report.present.length} already present, all verified`);
        return 0;
      }
      if (args[0] !== 'verify') throw usageError('models needs a subcommand: verify or fetch [BASE_URL]');
      let failed = 0;
      for (const [role, entry] of Object.entries(manifest.models)) {
        if (!entry) continue;
        try {
          const s = await openModel(role as never, entry, config.paths.modelsDir, { providers: config.inference.providers, intraOpThreads: 1, verifyHashes: true });
          print(`ok      ${role.padEnd(15)} ${entry.file} (${s.provider})`);
          await s.release();
        } catch (err) {
          failed++;
          const e = toFamiliarError(err);
          print(`FAILED  ${role.padEnd(15)} ${e.code}: ${e.message}`);
        }
      }
      return failed ? 1 : 0;
    }
    case 'start':
      return start(configFrom(values), () => configFrom(values));
    case 'bench': {
      // FAMILIAR_BENCH_SIZE=smoke: a smaller run than --quick, for the CLI test only.
      const env = process.env.FAMILIAR_BENCH_SIZE;
      const size: BenchSize = env === 'smoke' || env === 'quick' || env === 'full' ? env : values.quick ? 'quick' : 'full';
      const report = await runBench({ config: configFrom(values), size, ...(values.out !== undefined && { out: values.out }), log: (line) => process.stderr.write(`${line}\n`) });
      const table = formatBenchTable(report);
      if (values.json) {
        process.stderr.write(`${table.join('\n')}\n`);
        print(JSON.stringify(snakeCaseKeys(report.summary)));
      } else for (const line of table) print(line);
      return 0;
    }
    default:
      throw usageError(`unknown command "${command}"`);
  }
}

/**
 * Runs the live runtime until SIGINT/SIGTERM. Log lines are JSON on stderr (credentials redacted); the first
 * stdout line says where to connect. SIGHUP re-reads the configuration and applies its access tokens.
 */
async function start(config: ResolvedConfig, reload: () => ResolvedConfig): Promise<number> {
  const log: Logger = (level, msg, fields) => {
    if (level === 'debug') return;
    process.stderr.write(`${redactCredentials(JSON.stringify({ t: new Date().toISOString(), level, msg, ...fields }))}\n`);
  };
  const runtime = await Runtime.start({ config, log, httpHandler: createConsoleHandler({ wsPath: config.server.path }) });
  const tokenNote = runtime.devToken ? ` (development control token, also in ${config.paths.storeDir}/dev-token: ${runtime.devToken})` : '';
  print(`familiar: listening on ${runtime.url}${tokenNote}; cameras: ${config.cameras.map((c) => `${c.id} (${c.room})`).join(', ') || 'none'}`);
  print(`familiar: web console at ${config.server.tls ? 'https' : 'http'}://${config.server.host}:${runtime.port}/`);
  const onHangup = () => {
    try {
      runtime.reloadTokens(reload().server.tokens);
    } catch (err) {
      const e = toFamiliarError(err);
      log('error', 'access tokens not reloaded; the previous ones stay in force', { code: e.code, error: e.message });
    }
  };
  process.on('SIGHUP', onHangup);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  process.off('SIGHUP', onHangup);
  log('info', 'shutting down');
  await runtime.stop();
  return 0;
}

/** The overlay is a JPEG: another extension would name a file whose bytes are not what it says. */
function checkOverlayPath(out: string): void {
  if (!/\.jpe?g$/i.test(out)) throw new FamiliarError('INPUT_INVALID', `--overlay writes a JPEG image; name the file .jpg or .jpeg, not ${path.basename(out)}`);
}

/** Draws the recognised boxes on the analysed image (its own pixels: the boxes are scaled back down). */
async function writeOverlay(out: string, rec: ImageRecognition): Promise<void> {
  const s = rec.scale;
  const items = rec.matches.map((m) => ({
    label: m.name,
    box: scaleBox(m.box, 1 / s),
  }));
  const result = await renderOverlay(rec.image, items);
  try {
    await writeFile(out, result.jpeg);
  } catch (cause) {
    throw new FamiliarError('INPUT_INVALID', `cannot write the overlay to ${out}: ${(cause as Error).message}`, { cause, details: { errno: (cause as NodeJS.ErrnoException).code } });
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const e = err instanceof TypeError && (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') ? usageError(err.message) : toFamiliarError(err);
    process.stderr.write(`error ${e.code}: ${redactCredentials(e.message)}\n`);
    process.exitCode = e.code === 'INPUT_INVALID' || e.code === 'CONFIG_INVALID' ? 2 : 1;
  },
);

/**
 * The bridge's connection against real mosquitto brokers: its outgoing queue while the broker hangs (SIGSTOP) —
 * the pipeline's calls stay cheap, the queue bounded, drops counted, the latest state arrives once the broker is
 * back —, the command topics it listens on, and credentials and TLS.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FamiliarError, type ConceptSummary, type SceneEvent } from '@familiar/contracts';
import { MqttBridge, type BridgeHost } from '@familiar/mqtt';
import { waitUntil } from './support/familiar-process.ts';
import { makeCertificates, makePasswordFile, Mosquitto, MOSQUITTO_MISSING, MqttWatch, publish, TLS_MISSING } from './support/mosquitto.ts';

/** The few things the bridge reads of Familiar, driven by the test instead of a camera. */
class DrivenHost implements BridgeHost {
  readonly listeners = new Set<(e: SceneEvent) => void>();
  listConcepts(): ConceptSummary[] {
    return [];
  }
  subscribe(listener: (e: SceneEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  subscribeReminders(): () => void {
    return () => {};
  }
  lastSeen(): null {
    return null;
  }
  emit(e: SceneEvent): void {
    for (const l of this.listeners) l(e);
  }
}

describe('MqttBridge configuration', () => {
  it('refuses a missing url and unknown keys with CONFIG_INVALID', () => {
    const base = { host: new DrivenHost(), cameras: [], onConceptsChanged: () => () => {} };
    expect(() => new MqttBridge({ ...base, config: {} })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.stringMatching(/url/) }) as FamiliarError);
    expect(() => new MqttBridge({ ...base, config: { url: 'mqtt://127.0.0.1:1', surprise: 1 } })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }) as FamiliarError);
    expect(() => new MqttBridge({ ...base, config: { url: 'http://x' } })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }) as FamiliarError);
  });
});

describe.skipIf(MOSQUITTO_MISSING !== null)(`MqttBridge with a hung broker${MOSQUITTO_MISSING ? ` — skipped: ${MOSQUITTO_MISSING}` : ''}`, () => {
  let tmp: string;
  let broker: Mosquitto;
  let bridge: MqttBridge;
  const host = new DrivenHost();

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'familiar-mqttq-'));
    broker = await Mosquitto.start(tmp);
  });

  afterAll(async () => {
    broker?.resume();
    await bridge?.stop();
    await broker?.down();
    await rm(tmp, { recursive: true, force: true });
  });

  it('costs the pipeline microseconds per event while the broker hangs, drops (and counts) past maxQueued, and catches up after', async () => {
    bridge = new MqttBridge({
      config: { url: broker.url, maxQueued: 64, maxInFlight: 8, keepaliveS: 60, topicPrefix: 'fq' },
      host,
      cameras: [{ id: 'hall', room: 'hall' }, { id: 'yard', room: 'yard' }],
      onConceptsChanged: () => () => {},
    });
    await waitUntil(() => bridge.status().state === 'connected', 15_000, 'the bridge to connect');
    broker.pause();
    const n = 20_000;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      // An unknown person appears and leaves: an event-entity message each, and the people count changes.
      const type = i % 2 === 0 ? 'appeared' : 'left';
      host.emit({ type, cameraId: 'hall', room: 'hall', at: Date.now(), conceptId: null, name: null, kind: 'person', box: null, confidence: 0.9, trackId: `t${i >> 1}` });
    }
    const perEventUs = ((performance.now() - t0) * 1000) / n;
    // State that changes once the queue is full of events still gets through (it is never the one dropped).
    host.emit({ type: 'appeared', cameraId: 'yard', room: 'yard', at: Date.now(), conceptId: null, name: null, kind: 'person', box: null, confidence: 0.9, trackId: 'y1' });
    const hung = bridge.status();
    console.log(`bridge with a hung broker: ${perEventUs.toFixed(1)} µs per scene event (${n} events), queued ${hung.queued}, dropped ${hung.dropped}, in flight ${hung.inFlight}`);
    // 64 momentary messages at most, plus the two people counts (state: the newest only).
    expect(hung.queued).toBeLessThanOrEqual(64 + 2);
    expect(hung.inFlight).toBeLessThanOrEqual(8);
    expect(hung.dropped).toBeGreaterThan(n / 4);

    broker.resume();
    const watch = await MqttWatch.start(broker.port, ['fq/#']);
    try {
      // The coalesced state is current (the last event was a `left`: nobody in view) and the bridge is connected.
      await watch.waitFor('the people counts', () => watch.latest('fq/camera/hall/person_count') === '0' && watch.latest('fq/camera/yard/person_count') === '1', 30_000);
      await waitUntil(() => bridge.status().queued === 0, 30_000, 'the queue to drain');
      expect(bridge.status().state).toBe('connected');
      // A clean stop says goodbye on the availability topic (the last will covers the other kind).
      await bridge.stop();
      await watch.waitFor('offline', () => watch.latest('fq/availability') === 'offline', 15_000);
    } finally {
      await watch.stop();
    }
  });

  it('listens only on the command topics mqtt.commands names', async () => {
    const ran: Record<string, unknown>[] = [];
    const only = new MqttBridge({
      config: { url: broker.url, topicPrefix: 'fc', commands: ['ask'], clientId: 'familiar-commands' },
      host,
      cameras: [],
      onConceptsChanged: () => () => {},
      runCommand: async (command) => {
        ran.push(command);
        return { answer: 'nobody is in view' };
      },
    });
    const watch = await MqttWatch.start(broker.port, ['fc/#']);
    try {
      await waitUntil(() => only.status().state === 'connected', 15_000, 'the bridge to connect');
      await publish(broker.port, 'fc/command/reminder', 'if Grandma shows up remind me to call the doctor');
      await publish(broker.port, 'fc/command/ask', 'Who is there?');
      await watch.waitFor('the answer', () => watch.latest('fc/response/ask') !== undefined, 15_000);
      expect(JSON.parse(watch.latest('fc/response/ask')!)).toEqual({ success: true, result: { answer: 'nobody is in view' } });
      // The reminder went to a topic nobody listens on: no command ran for it, no reply.
      expect(ran).toEqual([{ question: 'Who is there?', type: 'ask', id: 1 }]);
      expect(watch.latest('fc/response/reminder')).toBeUndefined();
    } finally {
      await watch.stop();
      await only.stop();
    }
  });
});

describe.skipIf(TLS_MISSING !== null)(`MqttBridge credentials and TLS${TLS_MISSING ? ` — skipped: ${TLS_MISSING}` : ''}`, () => {
  let tmp: string;
  let broker: Mosquitto;
  let caFile: string;

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'familiar-mqtts-'));
    const certs = await makeCertificates(tmp);
    caFile = certs.caFile;
    broker = await Mosquitto.start(tmp, { tls: certs, passwordFile: await makePasswordFile(tmp, 'familiar', 'correct horse') });
  }, 60_000);

  afterAll(async () => {
    await broker?.down();
    await rm(tmp, { recursive: true, force: true });
  });

  const open = (config: Record<string, unknown>, env: NodeJS.ProcessEnv) =>
    new MqttBridge({ config: { url: broker.tlsUrl, reconnectMinMs: 200, reconnectMaxMs: 500, ...config }, env, host: new DrivenHost(), cameras: [], onConceptsChanged: () => () => {} });

  it('connects over mqtts:// with the broker CA from tls.caFile and the credentials from the environment', async () => {
    const bridge = open({ tls: { caFile }, usernameEnv: 'TEST_MQTT_USER', passwordEnv: 'TEST_MQTT_PASS' }, { TEST_MQTT_USER: 'familiar', TEST_MQTT_PASS: 'correct horse' });
    try {
      await waitUntil(() => bridge.status().state === 'connected' && bridge.status().published > 0, 15_000, 'a TLS connection', () => JSON.stringify(bridge.status()));
    } finally {
      await bridge.stop();
    }
  });

  it('stays disconnected, saying why, with a wrong password or an unknown CA', async () => {
    const wrongPassword = open({ tls: { caFile } }, { FAMILIAR_MQTT_USERNAME: 'familiar', FAMILIAR_MQTT_PASSWORD: 'wrong' });
    const unknownCa = open({ clientId: 'familiar-2' }, { FAMILIAR_MQTT_USERNAME: 'familiar', FAMILIAR_MQTT_PASSWORD: 'correct horse' });
    try {
      await waitUntil(() => /not authori[sz]ed|bad user name or password/i.test(wrongPassword.status().lastError ?? ''), 15_000, 'the refusal', () => JSON.stringify(wrongPassword.status()));
      await waitUntil(() => /certificate/i.test(unknownCa.status().lastError ?? ''), 15_000, 'the certificate error', () => JSON.stringify(unknownCa.status()));
      expect(wrongPassword.status().state).not.toBe('connected');
      expect(unknownCa.status().state).not.toBe('connected');
    } finally {
      await wrongPassword.stop();
      await unknownCa.stop();
    }
  });
});

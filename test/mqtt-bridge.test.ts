/**
 * The Home Assistant bridge against a real broker (Debian's mosquitto) and the real `familiar start`: what Home
 * Assistant would see when it subscribes, what it can ask, and what happens when the broker hangs, dies and
 * comes back.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFamiliar, waitUntil, type FamiliarProcess } from './support/familiar-process.ts';
import { Mosquitto, MOSQUITTO_MISSING, MqttWatch, publish, request } from './support/mosquitto.ts';
import { dataBase64, makeReplaySequence } from './support/static-backend.ts';
import { ok, TestClient } from './support/ws-client.ts';

const CONTROL = 'mqtt-control-token-0123456789';
const PREFIX = 'familiar';
const DISCOVERY = 'homeassistant';

/** Keys Home Assistant's MQTT discovery requires per component (its docs' "Required" variables), and what we add to every entity. */
const REQUIRED: Record<string, string[]> = {
  binary_sensor: ['state_topic'],
  sensor: ['state_topic'],
  event: ['state_topic', 'event_types'],
  // image: exactly one of image_topic / url_topic (checked below).
  image: [],
};
const COMMON = ['name', 'unique_id', 'availability_topic', 'device', 'origin'];

type Config = Record<string, unknown> & { device: { identifiers: string[]; name: string; via_device?: string } };

function checkDiscovery(topic: string, payload: Buffer): Config {
  const m = new RegExp(`^${DISCOVERY}/(binary_sensor|sensor|image|event)/${PREFIX}/([A-Za-z0-9_-]+)/config$`).exec(topic);
  expect(m, `discovery topic ${topic}`).not.toBeNull();
  const component = m![1]!;
  const config = JSON.parse(payload.toString()) as Config;
  for (const key of [...REQUIRED[component]!, ...COMMON]) expect(config, `${topic} needs ${key}`).toHaveProperty(key);
  if (component === 'image') expect(('image_topic' in config) !== ('url_topic' in config), `${topic}: one of image_topic / url_topic`).toBe(true);
  if (component === 'event') expect((config.event_types as string[]).length).toBeGreaterThan(0);
  expect(config.device.identifiers.length).toBeGreaterThan(0);
  expect(config.availability_topic).toBe(`${PREFIX}/availability`);
  return config;
}

const configTopic = (component: string, objectId: string) => `${DISCOVERY}/${component}/${PREFIX}/${objectId}/config`;

let tmp: string;
let broker: Mosquitto;
let familiar: FamiliarProcess;
let owner: TestClient;
let watch: MqttWatch;

const stderrTail = () => `stderr tail: ${familiar.stderr().slice(-1500)}`;

describe.skipIf(MOSQUITTO_MISSING !== null)(`Home Assistant over MQTT (real mosquitto, real familiar start)${MOSQUITTO_MISSING ? ` — skipped: ${MOSQUITTO_MISSING}` : ''}`, () => {
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'familiar-mqtt-'));
    broker = await Mosquitto.start(tmp);
    const frames = path.join(tmp, 'frames');
    await makeReplaySequence(frames);
    const config = [
      'server:',
      '  port: 0',
      '  tokens:',
      `    - { name: owner, role: control, token: ${CONTROL}, member: Sam }`,
      'tracking: { maxMissedFrames: 2, maxMissedMs: 400 }',
      'store: { embeddingsOnly: false }',
      'cameras:',
      `  - { id: kitchen, room: kitchen, fps: 4, source: { kind: replay, uri: "${frames}" } }`,
      'mqtt:',
      `  url: ${broker.url}`,
      '  keepaliveS: 5',
      '  reconnectMinMs: 200',
      '  reconnectMaxMs: 1000',
      '  snapshotIntervalMs: 1000',
      '  lastSeenIntervalMs: 0',
      '  commandMember: Sam',
    ].join('\n');
    await writeFile(path.join(tmp, 'mqtt.yaml'), config);
    familiar = await startFamiliar({ configFile: path.join(tmp, 'mqtt.yaml'), store: path.join(tmp, 'store') });
    owner = await TestClient.connect(familiar.url, CONTROL);
  }, 120_000);

  afterAll(async () => {
    owner?.close();
    await watch?.stop();
    if (familiar?.proc.exitCode === null) await familiar.kill();
    await broker?.down();
    await rm(tmp, { recursive: true, force: true });
  });

  it('publishes one device with its event entity and each camera as a sub-device (image and people count), retained, with the keys discovery requires', async () => {
    watch = await MqttWatch.start(broker.port, [`${DISCOVERY}/#`, `${PREFIX}/#`, 'ha/#']);
    await watch.waitFor('discovery and availability', (ms) => ms.some((m) => m.topic === `${PREFIX}/availability` && m.payload.toString() === 'online') && ms.some((m) => m.topic === configTopic('event', 'household')));
    const retained = watch.messages.filter((m) => m.retained);
    const event = checkDiscovery(configTopic('event', 'household'), retained.find((m) => m.topic === configTopic('event', 'household'))!.payload);
    expect(event).toMatchObject({ state_topic: `${PREFIX}/event`, event_types: ['recognised', 'left', 'unknown_person', 'reminder'], device: { identifiers: [PREFIX], name: 'Familiar' } });
    const image = checkDiscovery(configTopic('image', 'camera_kitchen_snapshot'), retained.find((m) => m.topic === configTopic('image', 'camera_kitchen_snapshot'))!.payload);
    expect(image).toMatchObject({ image_topic: `${PREFIX}/camera/kitchen/snapshot`, content_type: 'image/jpeg', device: { via_device: PREFIX, suggested_area: 'kitchen' } });
    const people = checkDiscovery(configTopic('sensor', 'camera_kitchen_person_count'), retained.find((m) => m.topic === configTopic('sensor', 'camera_kitchen_person_count'))!.payload);
    expect(people).toMatchObject({ state_topic: `${PREFIX}/camera/kitchen/person_count`, state_class: 'measurement' });
    expect(retained.find((m) => m.topic === `${PREFIX}/camera/kitchen/person_count`)?.payload.toString()).toBe('0');
    // The last will is there for when Familiar dies without a goodbye.
    expect(retained.some((m) => m.topic === `${PREFIX}/availability` && m.payload.toString() === 'online')).toBe(true);
  });

  let petId: string;

  it('enrolling a pet adds its entities; when the replay camera shows it, presence, room, last seen and the event entity follow; snapshots are annotated JPEGs', async () => {
    const photos = await Promise.all(['00', '01'].map((n) => dataBase64(`dreambooth/dog2/${n}.jpg`)));
    const enrolled = ok(await owner.request<{ concept: { id: string } }>({ type: 'concepts/enrol', name: 'Biscuit', kind: 'pet', photos }, 120_000));
    petId = enrolled.concept.id;
    const objects = [`${petId}_presence`, `${petId}_room`, `${petId}_last_seen`];
    await watch.waitFor("Biscuit's entities", (ms) => objects.every((o) => ms.some((m) => m.topic.endsWith(`/${o}/config`))));
    const presence = checkDiscovery(configTopic('binary_sensor', `${petId}_presence`), Buffer.from(watch.latest(configTopic('binary_sensor', `${petId}_presence`))!));
    expect(presence).toMatchObject({ name: 'Biscuit presence', device_class: 'presence', payload_on: 'ON', payload_off: 'OFF', state_topic: `${PREFIX}/concept/${petId}/presence` });
    checkDiscovery(configTopic('sensor', `${petId}_room`), Buffer.from(watch.latest(configTopic('sensor', `${petId}_room`))!));
    const lastSeen = checkDiscovery(configTopic('sensor', `${petId}_last_seen`), Buffer.from(watch.latest(configTopic('sensor', `${petId}_last_seen`))!));
    expect(lastSeen).toMatchObject({ device_class: 'timestamp', json_attributes_topic: `${PREFIX}/concept/${petId}/last_seen/attributes` });

    const t = (leaf: string) => `${PREFIX}/concept/${petId}/${leaf}`;
    const enrolledAt = Date.now();
    await watch.waitFor('Biscuit present in the kitchen', () => watch.latest(t('presence')) === 'ON' && watch.latest(t('room')) === 'kitchen', 90_000).catch((e: Error) => {
      throw new Error(`${e.message}\n${stderrTail()}`);
    });
    const seenAt = Date.parse(watch.latest(t('last_seen'))!);
    expect(watch.latest(t('last_seen'))).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(seenAt).toBeGreaterThan(enrolledAt - 60_000);
    expect(JSON.parse(watch.latest(t('last_seen/attributes'))!)).toMatchObject({ camera: 'kitchen', room: 'kitchen', confidence: expect.any(Number) });
    await watch.waitFor('Biscuit to leave', () => watch.latest(t('presence')) === 'OFF', 90_000);
    expect(watch.latest(t('room'))).toBe('None');
    expect(Date.parse(watch.latest(t('last_seen'))!)).toBeGreaterThanOrEqual(seenAt);

    const events = watch.messages.filter((m) => m.topic === `${PREFIX}/event`).map((m) => JSON.parse(m.payload.toString()) as Record<string, unknown>);
    expect(events).toContainEqual(expect.objectContaining({ event_type: 'recognised', concept_id: petId, name: 'Biscuit', kind: 'pet', camera: 'kitchen', room: 'kitchen' }));
    expect(events).toContainEqual(expect.objectContaining({ event_type: 'left', concept_id: petId, name: 'Biscuit' }));
    expect(watch.messages.filter((m) => m.topic === `${PREFIX}/event`).every((m) => !m.retained)).toBe(true);

    await watch.waitFor('a snapshot', (ms) => ms.some((m) => m.topic === `${PREFIX}/camera/kitchen/snapshot`));
    const jpeg = watch.messages.find((m) => m.topic === `${PREFIX}/camera/kitchen/snapshot`)!.payload;
    expect(jpeg.subarray(0, 3).toString('hex')).toBe('ffd8ff');
  });

  it('renaming updates the entity names in place (same unique_id)', async () => {
    const before = watch.messages.length;
    ok(await owner.request({ type: 'concepts/update', concept_id: petId, name: 'Rex' }));
    const topic = configTopic('binary_sensor', `${petId}_presence`);
    await watch.waitFor('the renamed config', (ms) => ms.slice(before).some((m) => m.topic === topic));
    expect(JSON.parse(watch.latest(topic)!)).toMatchObject({ name: 'Rex presence', unique_id: `${PREFIX}_${petId}_presence` });
  });

  it('answers an ask sent as an MQTT 5 request (response topic, correlation data) like a WebSocket ask, and a reminder sent MQTT 3.1.1-style', async () => {
    const answer = JSON.parse(await request(broker.port, `${PREFIX}/command/ask`, JSON.stringify({ question: 'Where is Rex?', camera_id: 'kitchen' }), 'ha/answers', 'ask-42')) as {
      success: boolean;
      result: { answer: string; source: string };
    };
    expect(answer.success).toBe(true);
    expect(answer.result.source).toBe('grounded');
    expect(answer.result.answer).toMatch(/Rex|kitchen/);
    // The reply carried the request's correlation data back (seen by the watcher, which also listens on ha/#).
    await watch.waitFor('the correlated reply', (ms) => ms.some((m) => m.topic === 'ha/answers' && m.correlation === 'ask-42'), 15_000);
    // The same question over the WebSocket gets the same kind of answer.
    const ws = ok(await owner.request<{ source: string }>({ type: 'ask', question: 'Where is Rex?', camera_id: 'kitchen' }, 60_000));
    expect(ws.source).toBe(answer.result.source);

    // 3.1.1 has no response topic: the payload names it, and the correlation id comes back.
    const reminder = { concept_id: petId, message: 'Give Rex his dinner', once: false, response_topic: 'ha/reminders', correlation_id: 'r-1' };
    await publish(broker.port, `${PREFIX}/command/reminder`, JSON.stringify(reminder), { v5: false });
    await watch.waitFor('the reminder reply', (ms) => ms.some((m) => m.topic === 'ha/reminders'), 30_000);
    const created = JSON.parse(watch.latest('ha/reminders')!) as { success: boolean; correlation_id: string; result: { trigger: { created_by: string; concept_id: string } } };
    // Made for the configured member, like a WebSocket triggers/add with a token bound to Sam.
    expect(created).toMatchObject({ success: true, correlation_id: 'r-1', result: { trigger: { created_by: 'Sam', concept_id: petId } } });
    // It fires when Rex next appears, as an event of the event entity.
    await watch.waitFor('the reminder event', (ms) => ms.some((m) => m.topic === `${PREFIX}/event` && m.payload.toString().includes('"reminder"')), 90_000);
    const fired = watch.messages.filter((m) => m.topic === `${PREFIX}/event`).map((m) => JSON.parse(m.payload.toString()) as Record<string, unknown>);
    expect(fired).toContainEqual(expect.objectContaining({ event_type: 'reminder', concept_id: petId, message: 'Give Rex his dinner', created_by: 'Sam', room: 'kitchen' }));
  });

  it('refuses bad requests with a typed error on the default response topic', async () => {
    await publish(broker.port, `${PREFIX}/command/ask`, JSON.stringify({ question: 'hi', type: 'concepts/forget' }));
    await watch.waitFor('a refusal', (ms) => ms.some((m) => m.topic === `${PREFIX}/response/ask`));
    expect(JSON.parse(watch.latest(`${PREFIX}/response/ask`)!)).toMatchObject({ success: false, error: { code: 'MESSAGE_INVALID' } });
    await publish(broker.port, `${PREFIX}/command/reminder`, JSON.stringify({ concept_id: petId, message: 'x', response_topic: `${DISCOVERY}/sensor/evil/config` }));
    await watch.waitFor('a refused response topic', (ms) => ms.some((m) => m.topic === `${PREFIX}/response/reminder`));
    expect(JSON.parse(watch.latest(`${PREFIX}/response/reminder`)!)).toMatchObject({ success: false, error: { code: 'INPUT_INVALID' } });
    expect(watch.messages.some((m) => m.topic === `${DISCOVERY}/sensor/evil/config`)).toBe(false);
  });

  it('sends every config again when Home Assistant announces itself online', async () => {
    const before = watch.messages.length;
    await publish(broker.port, `${DISCOVERY}/status`, 'online');
    await watch.waitFor('configs again', (ms) => ms.slice(before).some((m) => m.topic === configTopic('event', 'household')) && ms.slice(before).some((m) => m.topic === configTopic('sensor', `${petId}_last_seen`)));
  });

  it('keeps processing frames while the broker hangs or is dead, bounds its queue, and publishes everything again after a restart', async () => {
    const status = async () =>
      ok(await owner.request<{ cameras: { frames_processed: number }[]; backend: { mqtt: { state: string; queued: number; dropped: number; reconnects: number } } }>({ type: 'status' }));
    const framesNow = async () => (await status()).cameras[0]!.frames_processed;

    // Hung: the connection stays open, nothing is acknowledged.
    broker.pause();
    let start = await framesNow();
    await waitUntil(async () => (await framesNow()) >= start + 8, 60_000, 'frames while the broker hangs', stderrTail, 250);
    // Dead: connection refused on every retry.
    broker.resume();
    await watch.stop();
    await broker.down();
    await waitUntil(async () => (await status()).backend.mqtt.state !== 'connected', 30_000, 'the bridge to notice', stderrTail, 250);
    start = await framesNow();
    await waitUntil(async () => (await framesNow()) >= start + 8, 60_000, 'frames while the broker is dead', stderrTail, 250);
    const down = (await status()).backend.mqtt;
    expect(down.queued).toBeLessThanOrEqual(1000);

    // Back (empty: no persistence): the bridge reconnects and sends configs and state again.
    await broker.up();
    await waitUntil(async () => (await status()).backend.mqtt.state === 'connected', 30_000, 'the bridge to reconnect', stderrTail, 250);
    expect((await status()).backend.mqtt.reconnects).toBeGreaterThanOrEqual(1);
    watch = await MqttWatch.start(broker.port, [`${DISCOVERY}/#`, `${PREFIX}/#`, 'ha/#']);
    await watch.waitFor('retained configs and state after the restart', (ms) =>
      ms.some((m) => m.retained && m.topic === configTopic('binary_sensor', `${petId}_presence`)) && ms.some((m) => m.retained && m.topic === `${PREFIX}/concept/${petId}/last_seen`) && ms.some((m) => m.retained && m.topic === `${PREFIX}/availability` && m.payload.toString() === 'online'),
    );
  });

  it('forgetting removes the entities and leaves no retained message naming the concept', async () => {
    ok(await owner.request({ type: 'concepts/forget', concept_id: petId }, 30_000));
    for (const [component, object] of [['binary_sensor', 'presence'], ['sensor', 'room'], ['sensor', 'last_seen']] as const) {
      const topic = configTopic(component, `${petId}_${object}`);
      await watch.waitFor(`${topic} emptied`, () => watch.latest(topic) === '');
    }
    // A fresh subscriber (Home Assistant after a restart) gets every retained message: none names Rex.
    const fresh = await MqttWatch.start(broker.port, ['#']);
    try {
      const retained = fresh.messages.filter((m) => m.retained);
      expect(retained.length).toBeGreaterThan(0);
      const naming = retained.filter((m) => m.topic.includes(petId) || m.payload.toString().includes(petId) || /Rex|Biscuit/.test(m.payload.toString()));
      expect(naming.map((m) => m.topic)).toEqual([]);
    } finally {
      await fresh.stop();
    }
  });

  it('is marked offline by its last will when it dies without a goodbye', async () => {
    expect(watch.latest(`${PREFIX}/availability`)).toBe('online');
    await familiar.kill();
    // The connection ends without a DISCONNECT, so the broker publishes the will.
    await watch.waitFor('the last will', () => watch.latest(`${PREFIX}/availability`) === 'offline', 30_000);
  });
});

import { z } from 'zod';
import { CLIENT_ROLES } from '@familiar/contracts';

// Owned by the Home Assistant bridge (issue 14): packages/mqtt reads this section.

const EnvName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/);
/** One MQTT topic level: what goes between slashes, without wildcards. */
const TopicLevel = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and - only (one topic level)');

export const MQTT_COMMANDS = ['ask', 'reminder'] as const;
export type MqttCommandName = (typeof MQTT_COMMANDS)[number];

const MqttTlsConfig = z
  .object({
    caFile: z.string().nullable().default(null).describe('PEM file of the certificate authority that signed the broker certificate (null: the system CAs).'),
    certFile: z.string().nullable().default(null).describe('PEM client certificate, for brokers that authenticate clients by certificate (with keyFile).'),
    keyFile: z.string().nullable().default(null).describe('PEM private key of certFile.'),
    rejectUnauthorized: z.boolean().default(true).describe('Refuse a broker whose certificate does not verify. Turn off only to try a self-signed broker.'),
  })
  .strict()
  .superRefine((t, ctx) => {
    if ((t.certFile === null) !== (t.keyFile === null)) ctx.addIssue({ code: 'custom', path: ['keyFile'], message: 'give both certFile and keyFile, or neither' });
  });
export type MqttTlsConfig = z.infer<typeof MqttTlsConfig>;

const MqttPublishConfig = z
  .object({
    presence: z.boolean().default(true).describe('Per person and pet: a presence binary_sensor (in view of a camera now) and a sensor naming the room.'),
    lastSeen: z.boolean().default(true).describe('Per concept: a timestamp sensor of when it was last seen, with camera, room and confidence as attributes.'),
    snapshots: z.boolean().default(true).describe('Per camera: an image entity with the latest annotated frame (at most one per snapshotIntervalMs).'),
    personCount: z.boolean().default(true).describe('Per camera: a sensor counting the people in view.'),
    events: z.boolean().default(true).describe('One event entity: recognised, left, unknown_person and reminder.'),
  })
  .strict();
export type MqttPublishConfig = z.infer<typeof MqttPublishConfig>;

export const MqttConfig = z
  .object({
    url: z
      .string()
      .regex(/^(mqtts?|wss?):\/\/[^\s]+$/, 'an mqtt://, mqtts://, ws:// or wss:// URL')
      .nullable()
      .default(null)
      .describe('Broker, e.g. mqtt://127.0.0.1:1883 (mqtts:// for TLS). null: no MQTT bridge.'),
    protocolVersion: z.union([z.literal(4), z.literal(5)]).default(5).describe('MQTT protocol: 5, or 4 for MQTT 3.1.1 brokers.'),
    clientId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).default('familiar').describe('MQTT client id; unique per broker (two clients with one id disconnect each other).'),
    usernameEnv: EnvName.default('FAMILIAR_MQTT_USERNAME').describe('Environment variable holding the broker user name; unset = anonymous.'),
    passwordEnv: EnvName.default('FAMILIAR_MQTT_PASSWORD').describe('Environment variable holding the broker password.'),
    tls: MqttTlsConfig.default(MqttTlsConfig.parse({})).describe('TLS settings for mqtts:// and wss:// URLs.'),
    topicPrefix: TopicLevel.default('familiar').describe('First level of every Familiar topic (state, availability, commands); also the discovery node id, so two Familiars on one broker need two prefixes.'),
    discoveryPrefix: TopicLevel.default('homeassistant').describe("Home Assistant's MQTT discovery prefix; its birth message is expected on <discoveryPrefix>/status."),
    deviceName: z.string().min(1).max(64).default('Familiar').describe('Name of the Home Assistant device the entities belong to.'),
    qos: z.union([z.literal(0), z.literal(1)]).default(1).describe('QoS of published messages (1: the broker acknowledges each).'),
    keepaliveS: z.number().int().min(5).max(3600).default(30).describe('MQTT keep-alive: the broker publishes the last will this long (x1.5) after Familiar goes silent.'),
    reconnectMinMs: z.number().int().min(100).max(600_000).default(1000).describe('First reconnect delay after losing the broker; doubles per failed attempt up to reconnectMaxMs.'),
    reconnectMaxMs: z.number().int().min(100).max(3_600_000).default(60_000).describe('Longest reconnect delay.'),
    maxQueued: z
      .number()
      .int()
      .min(16)
      .max(100_000)
      .default(1000)
      .describe('Momentary messages (events, command replies) waiting for a slow or absent broker; past this they are dropped (counted in status). State waits as one message per topic, the newest.'),
    maxInFlight: z.number().int().min(1).max(10_000).default(64).describe('Published messages the broker has not yet acknowledged; further ones wait in the queue.'),
    snapshotIntervalMs: z.number().int().min(1000).max(3_600_000).default(10_000).describe('At most one annotated snapshot per camera this often.'),
    snapshotMaxSide: z.number().int().min(64).max(4096).default(960).describe('Long side of published snapshots, pixels.'),
    lastSeenIntervalMs: z.number().int().min(0).max(3_600_000).default(5_000).describe('At most one last-seen update per concept this often while it stays in view (appearing and leaving publish at once).'),
    publish: MqttPublishConfig.default(MqttPublishConfig.parse({})).describe('Which entities to publish.'),
    commands: z
      .array(z.enum(MQTT_COMMANDS))
      .max(MQTT_COMMANDS.length)
      .default([...MQTT_COMMANDS])
      .describe('Commands accepted on <topicPrefix>/command/<name>: ask (a question) and reminder. [] = none (the bridge subscribes to nothing).'),
    commandRole: z.enum(CLIENT_ROLES).default('viewer').describe('Role MQTT commands run with, as if sent over WebSocket with a token of this role. Anyone who may publish to the command topics gets it.'),
    commandMember: z.string().min(1).max(64).nullable().default(null).describe('Household member MQTT commands speak for (the asker, the reminder owner) unless a command names one.'),
  })
  .strict()
  .superRefine((m, ctx) => {
    if (m.reconnectMaxMs < m.reconnectMinMs) ctx.addIssue({ code: 'custom', path: ['reconnectMaxMs'], message: 'must be at least reconnectMinMs' });
    if (m.topicPrefix === m.discoveryPrefix) ctx.addIssue({ code: 'custom', path: ['topicPrefix'], message: 'must differ from discoveryPrefix' });
  });
export type MqttConfig = z.infer<typeof MqttConfig>;

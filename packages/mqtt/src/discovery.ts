import type { ConceptKind } from '@familiar/contracts';
import type { MqttConfig } from '@familiar/config';

/**
 * Home Assistant MQTT discovery: the topics and config payloads of Familiar's entities. Pure functions; the
 * bridge decides when to publish them. Follows https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery:
 * config on `<discovery_prefix>/<component>/<node_id>/<object_id>/config` (retained), one `unique_id` per entity,
 * a `device` block tying the entities together, a shared availability topic, and an empty retained config to
 * remove an entity.
 */

export type Component = 'binary_sensor' | 'sensor' | 'image' | 'event';

/** The event entity's event types (its `event_types`). */
export const EVENT_TYPES = ['recognised', 'left', 'unknown_person', 'reminder'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** One entity: where its config goes and what it says. */
export interface EntityConfig {
  component: Component;
  /** `<discovery_prefix>/<component>/<node_id>/<object_id>/config` */
  configTopic: string;
  config: Record<string, unknown>;
  /** Topics this entity's state lives on (cleared with the entity). */
  stateTopics: string[];
}

export interface DiscoveryContext {
  cfg: MqttConfig;
  availabilityTopic: string;
  swVersion: string;
}

/** The state topics of a concept, all under one prefix so its removal can find every one. */
export function conceptTopics(cfg: MqttConfig, conceptId: string) {
  const base = `${cfg.topicPrefix}/concept/${conceptId}`;
  return { base: `${base}/`, presence: `${base}/presence`, room: `${base}/room`, lastSeen: `${base}/last_seen`, lastSeenAttributes: `${base}/last_seen/attributes` };
}

export function cameraTopics(cfg: MqttConfig, cameraId: string) {
  const base = `${cfg.topicPrefix}/camera/${cameraId}`;
  return { snapshot: `${base}/snapshot`, personCount: `${base}/person_count` };
}

export function eventTopic(cfg: MqttConfig): string {
  return `${cfg.topicPrefix}/event`;
}

function hubDevice(ctx: DiscoveryContext): Record<string, unknown> {
  return { identifiers: [ctx.cfg.topicPrefix], name: ctx.cfg.deviceName, manufacturer: 'Familiar', model: 'Household recognition hub', sw_version: ctx.swVersion };
}

/** A camera is a device of its own, reached through the hub (`via_device`), placed in its room. */
function cameraDevice(ctx: DiscoveryContext, camera: { id: string; room: string }): Record<string, unknown> {
  return {
    identifiers: [`${ctx.cfg.topicPrefix}_camera_${camera.id}`],
    name: `${ctx.cfg.deviceName} ${camera.id}`,
    manufacturer: 'Familiar',
    model: 'Camera',
    suggested_area: camera.room,
    via_device: ctx.cfg.topicPrefix,
  };
}

function entity(ctx: DiscoveryContext, component: Component, objectId: string, device: Record<string, unknown>, fields: Record<string, unknown>, stateTopics: string[]): EntityConfig {
  const { topicPrefix, discoveryPrefix } = ctx.cfg;
  return {
    component,
    configTopic: `${discoveryPrefix}/${component}/${topicPrefix}/${objectId}/config`,
    config: {
      ...fields,
      unique_id: `${topicPrefix}_${objectId}`,
      availability_topic: ctx.availabilityTopic,
      device,
      origin: { name: 'Familiar', sw_version: ctx.swVersion },
    },
    stateTopics,
  };
}

/** A concept's entities: presence and room for people and pets, last seen for every kind. */
export function conceptEntities(ctx: DiscoveryContext, concept: { id: string; name: string; kind: ConceptKind }): EntityConfig[] {
  const t = conceptTopics(ctx.cfg, concept.id);
  const device = hubDevice(ctx);
  const out: EntityConfig[] = [];
  const living = concept.kind === 'person' || concept.kind === 'pet';
  if (living && ctx.cfg.publish.presence) {
    out.push(
      entity(ctx, 'binary_sensor', `${concept.id}_presence`, device, { name: `${concept.name} presence`, state_topic: t.presence, device_class: 'presence', payload_on: 'ON', payload_off: 'OFF' }, [t.presence]),
      entity(ctx, 'sensor', `${concept.id}_room`, device, { name: `${concept.name} room`, state_topic: t.room, icon: 'mdi:map-marker' }, [t.room]),
    );
  }
  if (ctx.cfg.publish.lastSeen) {
    out.push(
      entity(
        ctx,
        'sensor',
        `${concept.id}_last_seen`,
        device,
        { name: `${concept.name} last seen`, state_topic: t.lastSeen, device_class: 'timestamp', json_attributes_topic: t.lastSeenAttributes },
        [t.lastSeen, t.lastSeenAttributes],
      ),
    );
  }
  return out;
}

/** A camera's entities: the latest annotated snapshot and how many people it sees. */
export function cameraEntities(ctx: DiscoveryContext, camera: { id: string; room: string }): EntityConfig[] {
  const t = cameraTopics(ctx.cfg, camera.id);
  const device = cameraDevice(ctx, camera);
  const out: EntityConfig[] = [];
  if (ctx.cfg.publish.snapshots) out.push(entity(ctx, 'image', `camera_${camera.id}_snapshot`, device, { name: 'Snapshot', image_topic: t.snapshot, content_type: 'image/jpeg' }, [t.snapshot]));
  if (ctx.cfg.publish.personCount) {
    out.push(entity(ctx, 'sensor', `camera_${camera.id}_person_count`, device, { name: 'People', state_topic: t.personCount, state_class: 'measurement', icon: 'mdi:account-group' }, [t.personCount]));
  }
  return out;
}

/** The one event entity: recognitions, departures, unknown people and fired reminders. */
export function eventEntity(ctx: DiscoveryContext): EntityConfig[] {
  if (!ctx.cfg.publish.events) return [];
  return [entity(ctx, 'event', 'household', hubDevice(ctx), { name: 'Household', state_topic: eventTopic(ctx.cfg), event_types: [...EVENT_TYPES] }, [])];
}

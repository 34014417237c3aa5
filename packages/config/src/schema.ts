import { z } from 'zod';
import { CamerasConfig, TrackingConfig } from './sections/camera.ts';
import { DeviceConfig } from './sections/device.ts';
import { MemoryConfig } from './sections/memory.ts';
import { MqttConfig } from './sections/mqtt.ts';
import { InferenceConfig, ModelsConfig } from './sections/models.ts';
import { RecognitionConfig } from './sections/recognition.ts';
import { PipelineConfig } from './sections/pipeline.ts';
import { LvlmConfig, ServerConfig } from './sections/server.ts';
import { LimitsConfig, StoreConfig } from './sections/store.ts';

/**
 * The whole runtime configuration. Every section is strict (unknown keys are errors) and every field
 * has a default and a description, so an empty file is a working configuration.
 */
export const FamiliarConfigSchema = z
  .object({
    device: DeviceConfig.default(DeviceConfig.parse({})),
    models: ModelsConfig.default(ModelsConfig.parse({})),
    inference: InferenceConfig.default(InferenceConfig.parse({})),
    recognition: RecognitionConfig.default(RecognitionConfig.parse({})),
    store: StoreConfig.default(StoreConfig.parse({})),
    limits: LimitsConfig.default(LimitsConfig.parse({})),
    memory: MemoryConfig.default(MemoryConfig.parse({})),
    cameras: CamerasConfig,
    tracking: TrackingConfig.default(TrackingConfig.parse({})),
    pipeline: PipelineConfig.default(PipelineConfig.parse({})),
    server: ServerConfig.default(ServerConfig.parse({})),
    lvlm: LvlmConfig.default(LvlmConfig.parse({})),
    mqtt: MqttConfig.default(MqttConfig.parse({})),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const arch = cfg.device.arch ?? (process.arch === 'arm64' ? 'arm64' : 'x64');
    const gpu = cfg.inference.providers.filter((p) => p !== 'cpu');
    if (arch === 'arm64' && cfg.device.onnxruntimeBuild === 'stock' && gpu.length > 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['inference', 'providers'],
        message:
          `the stock onnxruntime-node for linux-arm64 is CPU-only, so ${gpu.join('/')} cannot load. ` +
          'Build onnxruntime from source on the device (./build.sh --use_cuda --use_tensorrt --build_nodejs, see README "GPU on Jetson"), ' +
          'install it in place of the npm package and set device.onnxruntimeBuild: custom; or use providers: [cpu].',
      });
    }
    if (cfg.inference.providers.at(-1) !== 'cpu') {
      ctx.addIssue({ code: 'custom', path: ['inference', 'providers'], message: 'the provider list must end with cpu, the fallback that always loads' });
    }
  });

export type FamiliarConfig = z.infer<typeof FamiliarConfigSchema>;

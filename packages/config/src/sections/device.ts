import { z } from 'zod';

export const DeviceConfig = z
  .object({
    profile: z.string().default('x86-dev').describe('Name of the device profile in devices/ that was merged over config/default.yaml.'),
    arch: z.enum(['x64', 'arm64']).optional().describe("CPU architecture the profile targets; defaults to this machine's."),
    onnxruntimeBuild: z
      .enum(['stock', 'custom'])
      .default('stock')
      .describe('stock = onnxruntime-node from npm (CPU on arm64; CUDA/TensorRT libraries must be installed on x64); custom = built from source with GPU providers.'),
  })
  .strict();

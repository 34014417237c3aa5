import { readFileSync } from 'node:fs';
import os from 'node:os';

/** Where a benchmark ran: absolute figures mean nothing without it. */
export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGb: number;
  platform: string;
  node: string;
  /** 1-minute load average when the run started and ended: other work on the machine skews every figure. */
  loadAvgStart: number;
  loadAvgEnd: number | null;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpu: cpuModel() ?? cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGb: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    platform: `${os.platform()} ${os.arch()} ${os.release()}`,
    node: process.version,
    loadAvgStart: loadAvg(),
    loadAvgEnd: null,
  };
}

/** The 1-minute load average, to 2 decimals. */
export function loadAvg(): number {
  return Math.round(os.loadavg()[0]! * 100) / 100;
}

/** One line for reports: "AMD EPYC (2 cores, 23.5 GB, linux x64, Node v20…, load 0.4→0.9)". */
export function machineLine(m: MachineInfo): string {
  const load = m.loadAvgEnd === null ? `${m.loadAvgStart}` : `${m.loadAvgStart}→${m.loadAvgEnd}`;
  return `${m.cpu} (${m.cores} cores, ${m.memoryGb} GB, ${m.platform}, Node ${m.node}, load average ${load})`;
}

/** The CPU model with its flags' most relevant SIMD level, from /proc/cpuinfo where there is one. */
function cpuModel(): string | null {
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const model = /^model name\s*:\s*(.+)$/m.exec(info)?.[1]?.trim();
    if (!model) return null;
    const flags = /^flags\s*:\s*(.+)$/m.exec(info)?.[1]?.split(/\s+/) ?? [];
    const simd = flags.includes('avx512f') ? 'AVX-512' : flags.includes('avx2') ? 'AVX2' : flags.includes('asimd') ? 'NEON' : null;
    return simd ? `${model}, ${simd}` : model;
  } catch {
    return null;
  }
}

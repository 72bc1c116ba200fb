/**
 * Idle CPUs that poll instead of halting, for the length of a measurement. A halted CPU of a
 * virtual machine has left the guest (the halt is a VM exit), and waking it for the next
 * packet goes through the host's scheduler: every hop of a request between the load
 * generator's core and the system's pays that wake-up whenever the other core had nothing to
 * do, which at one connection is most of the time. Holding `/dev/cpu_dma_latency` (the kernel's
 * PM QoS request) at 0 µs makes the cpuidle governor choose the polling state, as tuned's
 * `latency-performance` profile does; the request lasts while the file stays open, so it ends
 * with the process whatever way it ends. It needs root; without it the run goes on with the
 * idle states the OS chose, and says so.
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';

export const cpuIdleModes = ['poll', 'os'] as const;
export type CpuIdleMode = (typeof cpuIdleModes)[number];

export interface CpuIdleHold {
  /** What the run measured on, in words, for the results (e.g. "polling (...)"). */
  readonly description: string;
  /** True when the harness holds the idle CPUs polling (until `release`). */
  readonly polling: boolean;
  release(): void;
}

const pmQosDevice = '/dev/cpu_dma_latency';

/** `--cpu-idle poll|os` (default poll); throws on anything else. */
export function cpuIdleOption(text: string | undefined): CpuIdleMode {
  if (text === undefined) return 'poll';
  if (!(cpuIdleModes as readonly string[]).includes(text))
    throw new Error(`--cpu-idle: unknown "${text}" (one of ${cpuIdleModes.join(', ')})`);
  return text as CpuIdleMode;
}

/** The cpuidle driver of the machine (`haltpoll`, `intel_idle`, `acpi_idle`, ...), if any. */
function cpuidleDriver(): string {
  try {
    return readFileSync('/sys/devices/system/cpu/cpuidle/current_driver', 'utf8').trim();
  } catch {
    return 'none';
  }
}

/**
 * Holds the idle CPUs in their polling state when `mode` is `poll` and the machine lets us;
 * `release()` ends the hold (also ended when the process exits).
 */
export function holdCpuIdle(mode: CpuIdleMode, device = pmQosDevice): CpuIdleHold {
  const driver = cpuidleDriver();
  const asChosen = (why: string): CpuIdleHold => ({
    description: `as the OS chose them (cpuidle driver ${driver}): ${why}`,
    polling: false,
    release: () => {},
  });
  if (mode === 'os') return asChosen('`--cpu-idle os`');
  let fd: number;
  try {
    fd = openSync(device, 'w');
    const zero = Buffer.alloc(4);
    zero.writeInt32LE(0);
    writeSync(fd, zero);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    return asChosen(`${device} could not be held at 0 µs (${code})`);
  }
  let held = true;
  return {
    description: `polling: the harness held ${device} at 0 µs for the run (cpuidle driver ${driver})`,
    polling: true,
    release: () => {
      if (!held) return;
      held = false;
      closeSync(fd);
    },
  };
}

/**
 * A process's own peak resident set, for the benchmarks' child processes.
 *
 * Not `process.resourceUsage().maxRSS`: on Linux, getrusage's ru_maxrss of a
 * child carries the parent's resident set at fork time across exec (the
 * forked copy of the parent's address space is counted before exec replaces
 * it), so a small client spawned by a benchmark that holds 300 MB reports
 * 300 MB. /proc/self/status VmHWM is the high-water mark of the process's
 * own address space since exec. Other systems fall back to maxRSS.
 */
import { readFileSync } from 'node:fs'

export function peakRssKb (): number {
  try {
    const m = /VmHWM:\s*(\d+)\s*kB/.exec(readFileSync('/proc/self/status', 'utf8'))
    if (m !== null) return Number(m[1])
  } catch {}
  return process.resourceUsage().maxRSS
}

/** The same, as a preload for a process that is not ours (the CLI): `node --import PEAK_RSS_HOOK ...`. */
export const PEAK_RSS_HOOK = 'data:text/javascript,' + encodeURIComponent(
  'import{readFileSync}from"node:fs";process.on("exit",()=>{let k=process.resourceUsage().maxRSS;' +
  'try{const m=/VmHWM:\\s*(\\d+)\\s*kB/.exec(readFileSync("/proc/self/status","utf8"));if(m!==null)k=Number(m[1])}catch{}' +
  'process.stdout.write("RESULT maxrss_kb="+k+"\\n")})')

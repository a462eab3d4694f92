// What one wake-up of an otherwise idle Node.js process costs on this machine: a timer fires at
// the rate a 5,000-node fleet's heartbeats arrive (83 a second) and does nothing; the process's
// CPU time (getrusage, and the scheduler's own count from /proc) is divided by the wake-ups. On a
// virtual machine this is far from free, and it is why the controller reads the Node watch in
// bursts (src/kube/coalesced-reads.ts). Usage: node bench/wakeup.bench.ts [rate per second] [seconds]

import { readFileSync } from 'node:fs';

const RATE = Number(process.argv[2] ?? 83);
const SECONDS = Number(process.argv[3] ?? 10);

/** The main thread's time on a CPU, from the scheduler (ns in /proc, here µs). */
const scheduledUs = () => Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) / 1000;

let wakeUps = 0;
const cpuBefore = process.cpuUsage();
const scheduledBefore = scheduledUs();
const timer = setInterval(() => wakeUps++, 1000 / RATE);
setTimeout(() => {
  clearInterval(timer);
  const cpu = process.cpuUsage(cpuBefore);
  const perWakeUp = (us: number) => (us / wakeUps).toFixed(0);
  console.log(`${wakeUps} wake-ups in ${SECONDS} s (${RATE}/s): ${perWakeUp(cpu.user + cpu.system)} µs of CPU each (user ${perWakeUp(cpu.user)}, system ${perWakeUp(cpu.system)}; scheduler: ${perWakeUp(scheduledUs() - scheduledBefore)} µs on the main thread), ${((100 * (cpu.user + cpu.system)) / (SECONDS * 1e6)).toFixed(2)}% of a core`);
}, SECONDS * 1000);

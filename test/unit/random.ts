// Seeded randomness for the property tests: failures reproduce from the seed, no dependency needed.

/** Small deterministic PRNG (mulberry32). */
export function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)]!;
}

/** An integer in [min, max]. */
export function between(rand: () => number, min: number, max: number): number {
  return min + Math.floor(rand() * (max - min + 1));
}

/** `length` characters drawn from `alphabet`. */
export function stringOf(rand: () => number, alphabet: string, length: number): string {
  return Array.from({ length }, () => alphabet[Math.floor(rand() * alphabet.length)]).join('');
}

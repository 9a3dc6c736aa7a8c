/**
 * A small deterministic PRNG (mulberry32). The core draws its randomized
 * election timeouts from it, so a seed fully determines the core's choices.
 */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A uniform 32-bit unsigned integer. */
  nextU32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A uniform integer in [min, max). */
  intBetween(min: number, max: number): number {
    if (max <= min) return min;
    return min + (this.nextU32() % (max - min));
  }
}

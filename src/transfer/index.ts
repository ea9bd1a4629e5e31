export * from './stream';
export * from './reader';
export * from './writer';
export * from './wire';

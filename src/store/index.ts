export * from './ids';
export * from './store';
export * from './stopped';
export * from './restoring';
export * from './lock';

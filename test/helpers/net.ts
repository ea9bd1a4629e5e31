/** A loopback port nobody listens on right now (the kernel's choice for port 0): the agent's own. */
export { freeLoopbackPort as freePort } from '../../src/service/migrate-target';

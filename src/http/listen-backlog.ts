/**
 * The listen backlog: new connections the kernel holds until the process accepts them (the
 * kernel caps it at `net.core.somaxconn`, 4096 on current Linux). Node's own default, 511,
 * drops the handshakes of a burst past it that arrives while the event loop is busy, and their
 * clients retry a second later. The gateway's default (`ODOCK_LISTEN_BACKLOG`), which the mock
 * upstream and the benchmark's own servers use too. A module of its own so that they can import
 * it without the gateway's settings and their dependencies.
 */
export const defaultListenBacklog = 4096;

// A loopback TCP proxy that can turn into a black hole: while "cut", bytes in
// both directions are silently discarded and new connections are accepted
// but go nowhere. No FIN, no RST: to both ends the connection looks alive,
// which is what a partition (iptables DROP) does to an established TCP link.

import { createServer, connect, type Server, type Socket } from "node:net";

export class BlackholeProxy {
  private cut = false;
  private readonly sockets = new Set<Socket>();
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<BlackholeProxy> {
    let self: BlackholeProxy | null = null;
    const server = createServer((client) => {
      const upstream = connect(targetPort, "127.0.0.1");
      for (const s of [client, upstream]) {
        self!.sockets.add(s);
        s.on("error", () => {});
        s.on("close", () => self!.sockets.delete(s));
      }
      client.on("data", (d) => {
        if (!self!.cut) upstream.write(d);
      });
      upstream.on("data", (d) => {
        if (!self!.cut) client.write(d);
      });
      client.on("end", () => upstream.end());
      upstream.on("end", () => client.end());
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const addr = server.address();
    if (addr === null || typeof addr === "string") throw new Error("proxy has no port");
    self = new BlackholeProxy(server, addr.port);
    return self;
  }

  /** From now on, drop every byte (existing and new connections stay open). */
  partition(): void {
    this.cut = true;
  }

  /** Forward again. Connections whose bytes were dropped are broken streams now; peers must redial. */
  heal(): void {
    this.cut = false;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

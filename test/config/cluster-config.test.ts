// The cluster config file: parsing, validation, finding this node's line.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  ConfigError,
  DEFAULT_HTTP_PORT,
  dialHost,
  findSelf,
  GRPC_PORT_OFFSET,
  PEER_PORT_OFFSET,
  loadClusterConfig,
  parseClusterConfig,
  type NodeAddress,
} from "../../src/config/cluster-config.js";

function configError(f: () => unknown): ConfigError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error("expected a ConfigError, nothing was thrown");
}

describe("parseClusterConfig", () => {
  it("has the documented defaults", () => {
    expect(DEFAULT_HTTP_PORT).toBe(5000);
    expect(GRPC_PORT_OFFSET).toBe(1000);
    expect(PEER_PORT_OFFSET).toBe(2000);
  });

  it("reads host, host:port, host:port:grpcPort and host:port:grpcPort:peerPort lines, numbering nodes from 0", () => {
    const nodes = parseClusterConfig("alpha\nbeta:5001\ngamma:7000:9100\ndelta:8000:8100:8200\n");
    expect(nodes).toStrictEqual<NodeAddress[]>([
      { id: 0, host: "alpha", httpPort: 5000, grpcPort: 6000, peerPort: 7000, line: "alpha" },
      { id: 1, host: "beta", httpPort: 5001, grpcPort: 6001, peerPort: 7001, line: "beta:5001" },
      { id: 2, host: "gamma", httpPort: 7000, grpcPort: 9100, peerPort: 9000, line: "gamma:7000:9100" },
      { id: 3, host: "delta", httpPort: 8000, grpcPort: 8100, peerPort: 8200, line: "delta:8000:8100:8200" },
    ]);
  });

  it("ignores blank lines and whitespace around lines, and accepts CRLF and a missing final newline", () => {
    const nodes = parseClusterConfig("\n\n   10.0.0.1:5000  \r\n\t\r\n \t 10.0.0.2:5000\t\n\n   \n10.0.0.3:5000");
    expect(nodes.map((n) => [n.id, n.host, n.httpPort, n.grpcPort, n.line])).toStrictEqual([
      [0, "10.0.0.1", 5000, 6000, "10.0.0.1:5000"],
      [1, "10.0.0.2", 5000, 6000, "10.0.0.2:5000"],
      [2, "10.0.0.3", 5000, 6000, "10.0.0.3:5000"],
    ]);
  });

  it("applies the --port default only to lines without a port", () => {
    const nodes = parseClusterConfig("a\nb:5002\nc\nd:7000:7500\n", 8000);
    expect(nodes.map((n) => [n.host, n.httpPort, n.grpcPort])).toStrictEqual([
      ["a", 8000, 9000],
      ["b", 5002, 6002],
      ["c", 8000, 9000],
      ["d", 7000, 7500],
    ]);
  });

  it("lets one host run several nodes on different ports", () => {
    const nodes = parseClusterConfig("localhost:5000\nlocalhost:5001\nlocalhost:5002\n");
    expect(nodes.map((n) => [n.httpPort, n.grpcPort])).toStrictEqual([
      [5000, 6000],
      [5001, 6001],
      [5002, 6002],
    ]);
  });

  it("accepts the extreme ports 1 and 65535", () => {
    const nodes = parseClusterConfig("a:1\nb:63535\nc:65535:1000:1001\n");
    expect(nodes.map((n) => [n.httpPort, n.grpcPort, n.peerPort])).toStrictEqual([
      [1, 1001, 2001],
      [63535, 64535, 65535],
      [65535, 1000, 1001],
    ]);
  });

  it.each([
    ["a:abc", `bad port "abc" in config line "a:abc"`],
    ["a:", `bad port "" in config line "a:"`],
    ["a:-5", `bad port "-5" in config line "a:-5"`],
    ["a:50 00", `bad port "50 00" in config line "a:50 00"`],
    ["a:5000:x1", `bad gRPC port "x1" in config line "a:5000:x1"`],
    ["a:0", `port 0 out of range 1-65535 in config line "a:0"`],
    ["a:65536", `port 65536 out of range 1-65535 in config line "a:65536"`],
    ["a:5000:0", `gRPC port 0 out of range 1-65535 in config line "a:5000:0"`],
    ["a:5000:70000", `gRPC port 70000 out of range 1-65535 in config line "a:5000:70000"`],
    ["a:5000:6000:x", `bad peer port "x" in config line "a:5000:6000:x"`],
    ["a:5000:6000:0", `peer port 0 out of range 1-65535 in config line "a:5000:6000:0"`],
    ["a:1:2:3:4", `bad config line "a:1:2:3:4": expected host, host:port, host:port:grpcPort or host:port:grpcPort:peerPort`],
    [":5000", `bad config line ":5000": expected host, host:port, host:port:grpcPort or host:port:grpcPort:peerPort`],
  ])("rejects the line %j", (line, message) => {
    const e = configError(() => parseClusterConfig(`ok:4000\n${line}\n`));
    expect(e.message).toBe(message);
  });

  it("rejects an HTTP port whose implied gRPC port would pass 65535, suggesting the explicit form", () => {
    const e = configError(() => parseClusterConfig("a:64536"));
    expect(e.message).toContain("gRPC port 65536");
    expect(e.message).toContain('"a:64536"');
    expect(e.message).toContain("host:port:grpcPort");
  });

  it("rejects an HTTP port whose implied peer port would pass 65535, suggesting the explicit form", () => {
    const e = configError(() => parseClusterConfig("a:63536"));
    expect(e.message).toContain("peer port 65536");
    expect(e.message).toContain("host:port:grpcPort:peerPort");
  });

  it.each(["", "\n\n", "   \n\t\n  "])("rejects a config with no nodes (%j)", (textIn) => {
    expect(configError(() => parseClusterConfig(textIn)).message).toBe("the config lists no nodes");
  });

  it("rejects two lines with the same host:port", () => {
    expect(configError(() => parseClusterConfig("a:5000\nb:5000\na:5000\n")).message).toBe("two nodes share the address a:5000");
  });

  it("rejects a default-port line that duplicates an explicit one", () => {
    expect(configError(() => parseClusterConfig("a\na:5000\n")).message).toBe("two nodes share the address a:5000");
  });

  it("rejects one node's gRPC port equal to another's HTTP port on the same host", () => {
    expect(configError(() => parseClusterConfig("a:5000\na:6000\n")).message).toBe("two nodes share the address a:6000");
  });

  it("rejects a node whose gRPC or peer port equals another of its own ports", () => {
    expect(configError(() => parseClusterConfig("a:5000:5000\n")).message).toBe('config line "a:5000:5000" uses one port for two purposes (HTTP 5000, gRPC 5000, peer 7000)');
    expect(configError(() => parseClusterConfig("a:5000:6000:6000\n")).message).toContain("uses one port for two purposes");
  });

  it("rejects one node's peer port equal to another's HTTP port on the same host", () => {
    expect(configError(() => parseClusterConfig("a:5000\na:7000:7100:7200\n")).message).toBe("two nodes share the address a:7000");
  });
});

describe("loadClusterConfig", () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it("reads the file with the given default port", () => {
    dir = mkdtempSync(join(tmpdir(), "paxos-config-"));
    const path = join(dir, "config");
    writeFileSync(path, "h1\nh2:5005\n");
    expect(loadClusterConfig(path, 7000).map((n) => [n.host, n.httpPort, n.grpcPort, n.peerPort])).toStrictEqual([
      ["h1", 7000, 8000, 9000],
      ["h2", 5005, 6005, 7005],
    ]);
  });

  it("turns a missing file into a ConfigError naming it", () => {
    dir = mkdtempSync(join(tmpdir(), "paxos-config-"));
    const path = join(dir, "nope");
    const e = configError(() => loadClusterConfig(path));
    expect(e.message).toContain(`cannot read config file ${path}`);
  });
});

describe("findSelf", () => {
  const nodes = parseClusterConfig("alpha:5000\nbeta:5000\nalpha:5001\ngamma\n");

  it("finds a node by its 0-based index", () => {
    expect(findSelf(nodes, "0")).toBe(nodes[0]);
    expect(findSelf(nodes, "1")).toBe(nodes[1]);
    expect(findSelf(nodes, "3")).toBe(nodes[3]);
  });

  it("refuses an index past the end", () => {
    expect(configError(() => findSelf(nodes, "4")).message).toBe("node index 4 is not in the config (it has 4 nodes)");
  });

  it("finds a node by a host that appears once", () => {
    expect(findSelf(nodes, "beta")).toBe(nodes[1]);
    expect(findSelf(nodes, "gamma")).toBe(nodes[3]);
  });

  it("finds a node by host:port, including the default port of a host-only line", () => {
    expect(findSelf(nodes, "alpha:5001")).toBe(nodes[2]);
    expect(findSelf(nodes, "alpha:5000")).toBe(nodes[0]);
    expect(findSelf(nodes, "gamma:5000")).toBe(nodes[3]);
  });

  it("finds a node by its full line", () => {
    const withGrpc = parseClusterConfig("h:5000:6500:7500\nh:5001:6501:7501\n");
    expect(findSelf(withGrpc, "h:5001:6501:7501")).toBe(withGrpc[1]);
  });

  it("refuses a host that appears on several lines", () => {
    expect(configError(() => findSelf(nodes, "alpha")).message).toBe(
      '"alpha" matches 2 lines of the config; give host:port or the index',
    );
  });

  it("refuses a name that matches nothing", () => {
    expect(configError(() => findSelf(nodes, "delta")).message).toBe('"delta" matches no line of the config');
    expect(configError(() => findSelf(nodes, "beta:5001")).message).toBe('"beta:5001" matches no line of the config');
  });
});

describe("dialHost", () => {
  it("maps localhost to 127.0.0.1 and leaves other hosts alone", () => {
    expect(dialHost("localhost")).toBe("127.0.0.1");
    expect(dialHost("127.0.0.1")).toBe("127.0.0.1");
    expect(dialHost("10.1.2.3")).toBe("10.1.2.3");
    expect(dialHost("node-1.example")).toBe("node-1.example");
  });
});

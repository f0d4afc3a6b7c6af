import { loadConfig } from "../src/config";

describe("loadConfig", () => {
  it("reads the port and the package version", () => {
    const config = loadConfig({ PORT: "8123" });
    expect(config.port).toBe(8123);
    expect(config.version).toBe("1.4.0");
  });

  it("rejects a port out of range", () => {
    expect(() => loadConfig({ PORT: "70000" })).toThrow("PORT must be an integer");
  });
});

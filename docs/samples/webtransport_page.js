// WebTransport only, trusting a development certificate by its SHA-256 (what the server printed)
function connectOverWebTransport(url, certificateHash) {
  return io(url, {
    transports: ["webtransport"],
    transportOptions: {
      webtransport: {
        serverCertificateHashes: [{ algorithm: "sha-256", value: certificateHash }],
      },
    },
  });
}

// The defaults: polling first, then the client probes WebTransport (and WebSocket 200 ms later) and
// moves to the first that answers. With a certificate from a public authority no options are needed;
// with a development one, pass {serverCertificateHashes: [...]} as webtransportOptions.
function connectWithUpgrades(url, webtransportOptions) {
  return io(url, webtransportOptions ? { transportOptions: { webtransport: webtransportOptions } } : {});
}

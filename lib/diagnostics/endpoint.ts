/** `host:port` as a peer is written everywhere stallguard names one; IPv6 addresses in brackets. */
export function formatEndpoint(address: string, port: number | undefined): string {
  const host = address.includes(':') ? `[${address}]` : address
  return port === undefined ? host : `${host}:${port}`
}

/**
 * The gRPC server's transport credentials from config: plain TCP, TLS (certificate and key), or
 * mutual TLS (a client CA; with requireClientCert, a client without a certificate signed by it
 * cannot connect at all).
 */
import { ServerCredentials } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';

export interface GrpcTlsOptions {
  /** PEM certificate chain; empty: no TLS. */
  certFile: string;
  /** PEM private key of the certificate. */
  keyFile: string;
  /** PEM CA certificates that sign client certificates; empty: clients are not asked for one. */
  clientCaFile: string;
  /** Refuse clients without a certificate signed by clientCaFile. */
  requireClientCert: boolean;
}

export function serverCredentials(tls: GrpcTlsOptions): ServerCredentials {
  if (!tls.certFile) return ServerCredentials.createInsecure();
  const read = (file: string) => readFileSync(file);
  return ServerCredentials.createSsl(
    tls.clientCaFile ? read(tls.clientCaFile) : null,
    [{ cert_chain: read(tls.certFile), private_key: read(tls.keyFile) }],
    tls.requireClientCert,
  );
}

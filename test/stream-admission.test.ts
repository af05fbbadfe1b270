/**
 * The stream caps' bookkeeping: a slot per call, per caller and in all, given back once.
 */
import { Metadata } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { CALLER_METADATA } from '../src/grpc/auth-interceptor.js';
import { peerHost, StreamAdmission } from '../src/grpc/stream-admission.js';
import { OrchestratorError } from '../src/errors/errors.js';

function call(peer: string, caller?: string) {
  const metadata = new Metadata();
  if (caller) metadata.set(CALLER_METADATA, caller);
  return { getPeer: () => peer, metadata };
}

describe('StreamAdmission', () => {
  it('counts a caller by address without its port', () => {
    expect(peerHost('ipv4:10.0.0.7:51234')).toBe('ipv4:10.0.0.7');
    expect(peerHost('ipv6:[::1]:51234')).toBe('ipv6:[::1]');
    const a = new StreamAdmission({ maxStreams: 10, maxStreamsPerCaller: 2, callerFromToken: false });
    a.admit(call('ipv4:10.0.0.7:1'));
    a.admit(call('ipv4:10.0.0.7:2'));
    expect(() => a.admit(call('ipv4:10.0.0.7:3'))).toThrow(/grpc.maxStreamsPerCaller/);
    expect(() => a.admit(call('ipv4:10.0.0.8:1'))).not.toThrow();
  });

  it('ignores a caller name the client wrote when the server has no tokens', () => {
    const a = new StreamAdmission({ maxStreams: 10, maxStreamsPerCaller: 1, callerFromToken: false });
    a.admit(call('ipv4:10.0.0.7:1', 'token:a'));
    expect(() => a.admit(call('ipv4:10.0.0.7:2', 'token:b'))).toThrow(OrchestratorError);
  });

  it('counts by token when the server has tokens, and caps the total', () => {
    const a = new StreamAdmission({ maxStreams: 3, maxStreamsPerCaller: 2, callerFromToken: true });
    const free = a.admit(call('ipv4:10.0.0.7:1', 'token:a'));
    a.admit(call('ipv4:10.0.0.7:2', 'token:a'));
    expect(() => a.admit(call('ipv4:10.0.0.7:3', 'token:a'))).toThrow(/grpc.maxStreamsPerCaller/);
    a.admit(call('ipv4:10.0.0.7:4', 'token:b'));
    let err: unknown;
    try {
      a.admit(call('ipv4:10.0.0.9:1', 'token:c'));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(OrchestratorError);
    expect((err as OrchestratorError).code).toBe('resource_exhausted');
    expect((err as OrchestratorError).message).toContain('grpc.maxStreams');
    // Freed once, however often it is called.
    free();
    free();
    expect(a.open).toBe(2);
    expect(() => a.admit(call('ipv4:10.0.0.9:1', 'token:c'))).not.toThrow();
    expect(() => a.admit(call('ipv4:10.0.0.9:2', 'token:c'))).toThrow(/grpc.maxStreams/);
  });
});

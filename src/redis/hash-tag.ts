/**
 * The part of a key Redis Cluster hashes to choose its slot: what is between the key's first "{"
 * and the first "}" after it, when that is not empty; else the whole key
 * (https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/#hash-tags). Keys of
 * one tag share a slot, so one script or one XREADGROUP may take them together.
 */
export function hashTag(key: string): string {
  const open = key.indexOf('{');
  if (open < 0) return key;
  const close = key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}

/**
 * The dashboard's test users and tokens, one admin and one read_only of each, and the TOML that
 * configures them: shared by the dashboard suites (browser and HTTP), so each says only which
 * it needs.
 */
export const ADMIN = { username: 'admin', password: 'admin-password-1' };
export const VIEWER = { username: 'viewer', password: 'viewer-password-1' };
export const ADMIN_TOKEN = 'admin-token-0123456789abcdef';
export const VIEWER_TOKEN = 'viewer-token-0123456789abcdef';

/** `[[http.dashboard.users]]` / `[[http.dashboard.tokens]]` entries: admin always, the viewer too unless `viewer: false`. */
export function dashboardAccessToml(opts: { users?: boolean; tokens?: boolean; viewer?: boolean }): string {
  const viewer = opts.viewer ?? true;
  let toml = '';
  if (opts.users) {
    toml += `[[http.dashboard.users]]\nname = "${ADMIN.username}"\npassword = "${ADMIN.password}"\nrole = "admin"\n`;
    if (viewer) toml += `[[http.dashboard.users]]\nname = "${VIEWER.username}"\npassword = "${VIEWER.password}"\n`;
  }
  if (opts.tokens) {
    if (viewer) toml += `[[http.dashboard.tokens]]\ntoken = "${VIEWER_TOKEN}"\n`;
    toml += `[[http.dashboard.tokens]]\ntoken = "${ADMIN_TOKEN}"\nrole = "admin"\n`;
  }
  return toml;
}

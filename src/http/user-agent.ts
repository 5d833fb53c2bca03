/**
 * A short description of a browser from its User-Agent header ("Firefox on Linux"), for the
 * session lists only: the header is whatever the client says, so the description is picked
 * from a fixed vocabulary and never trusted for anything but display.
 */

/** Longer headers are cut before matching: a description needs only their start. */
const MAX_HEADER = 512;

/** Browser tokens, most specific first: Edge and Opera also say Chrome, Chrome also says Safari. */
const BROWSERS: ReadonlyArray<readonly [RegExp, string]> = [
  [/\bEdg(?:e|A|iOS)?\//, 'Edge'],
  [/\b(?:OPR|Opera)\//, 'Opera'],
  [/\b(?:Firefox|FxiOS)\//, 'Firefox'],
  // HeadlessChrome: Chromium driven by a script (a test, a monitoring probe).
  [/\b(?:Chrome|CriOS|Chromium|HeadlessChrome)\//, 'Chrome'],
  [/\bVersion\/[\d.]+.*\bSafari\//, 'Safari'],
];

/** Platforms, most specific first: Android also says Linux, iOS also says "like Mac OS X". */
const SYSTEMS: ReadonlyArray<readonly [RegExp, string]> = [
  [/\bWindows\b/, 'Windows'],
  [/\bAndroid\b/, 'Android'],
  [/\b(?:iPhone|iPad|iPod)\b/, 'iOS'],
  [/\bCrOS\b/, 'ChromeOS'],
  [/\bMac OS X\b|\bMacintosh\b/, 'macOS'],
  [/\bLinux\b/, 'Linux'],
];

/** "Chrome on Linux", "Safari", or "Unknown browser" when the header names no browser we know. */
export function describeBrowser(userAgent: string | undefined): string {
  if (userAgent === undefined) return 'Unknown browser';
  const header = userAgent.slice(0, MAX_HEADER);
  const browser = BROWSERS.find(([pattern]) => pattern.test(header))?.[1];
  if (browser === undefined) return 'Unknown browser';
  const system = SYSTEMS.find(([pattern]) => pattern.test(header))?.[1];
  return system === undefined ? browser : `${browser} on ${system}`;
}

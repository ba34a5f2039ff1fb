// Checks before an avatar upload (the server decides by magic bytes; this only saves a trip).
export const AVATAR_TYPES = ['image/png', 'image/jpeg', 'image/webp', 'image/gif'];
export const AVATAR_MAX = 8 * 1024 * 1024;

export function precheckAvatar(file: { name: string; type: string; size: number }): string | null {
  if (file.size === 0) return `${file.name} is empty.`;
  if (file.size > AVATAR_MAX) return `${file.name} is ${(file.size / 1024 / 1024).toFixed(1)} MiB; avatars can be at most 8 MiB.`;
  if (file.type && !AVATAR_TYPES.includes(file.type)) return `${file.name} is not a PNG, JPEG, WebP or GIF image.`;
  return null;
}

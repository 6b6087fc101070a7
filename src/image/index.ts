// Public face of the image layer: what other layers (vm session, CLI, kernel build) import.
export { DEFAULT_IMAGE, listImages, parseImageDef, ImageDefSchema, type ImageDef } from './catalog.js';
export { cacheDir, imagesCacheDir } from './cache.js';
export { assembleInitramfs, type AssembleInitramfsOptions, type InitramfsInfo } from './initramfs.js';
export { ImageManifestSchema, type ImageManifest } from './manifest.js';
export { resolveImage, resolveUserKernel, type ImageArtifacts, type ResolveOptions, type UserKernelOptions } from './resolve.js';

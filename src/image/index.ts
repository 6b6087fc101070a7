// The image layer's public entry: what the other layers (scenario, cli) import. Anything else in
// src/image is the layer's own (test/layering.test.ts holds the other layers to this file).
export { DEFAULT_IMAGE, IMAGES_DIR, findImage, listImages, parseImageDef, type ImageDef, type SourceImageDef } from './catalog.js';
export { checkKernelConfig, readKernelConfig } from './kernel-config-check.js';
export { describeMissing, parseDotConfig } from './kernel-fragments.js';
export { readManifest } from './manifest.js';
export {
  cachedDirsOf,
  getImageDef,
  imageInputs,
  knownImagesLine,
  resolveImage,
  resolveImageDef,
  resolveUserKernel,
  type ImageArtifacts,
} from './resolve.js';
export { checkoutOf, type GitCheckout } from './git-checkout.js';
export { FragmentUnmetError } from './kernel-build.js';

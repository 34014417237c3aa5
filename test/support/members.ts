/** A household with members for the memory protocol tests: tokens bound to Tom and Anna, and photos of them. */
import { HARNESS_TOKENS } from './dialogue-harness.ts';

export const ANNA_TOKEN = 'anna-token-0123456789';
/** The harness's tokens plus a viewer bound to Anna: Tom's phone and Anna's tablet are different members. */
export const MEMBER_TOKENS = [
  ...HARNESS_TOKENS,
  { name: 'tablet', role: 'viewer' as const, token: ANNA_TOKEN, member: 'Anna' },
];
export const TOM_PHOTO = 'faces_glint_crops/Hugh Laurie/3358.png';
export const ANNA_PHOTO = 'faces_glint_crops/Tina Fey/8983.png';
export const BILLY_PHOTO = 'myvlm/billy_dog/billy_dog_6.jpg';

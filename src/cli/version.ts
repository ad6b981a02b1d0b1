/** The version of vmrs recorded in recordings' headers. */
export const VMRS_VERSION = '0.2.0';

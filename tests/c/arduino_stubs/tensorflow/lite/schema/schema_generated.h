/* schema_generated.h - host stand-in (TFLite Micro). */
#ifndef KWS_STUB_SCHEMA_H
#define KWS_STUB_SCHEMA_H
#define TFLITE_SCHEMA_VERSION 3
#endif

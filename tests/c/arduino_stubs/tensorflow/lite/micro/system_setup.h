/* system_setup.h - host stand-in (TFLite Micro). */
#ifndef KWS_STUB_SYSTEM_SETUP_H
#define KWS_STUB_SYSTEM_SETUP_H
namespace tflite {
inline void InitializeTarget() {}
}
#endif

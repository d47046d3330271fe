/* Compiled text check of veille.store.checks: can both engines store these strings?
 *
 * storable(*values) -> bool: True when every value is None or a str that holds no NUL and
 * encodes to UTF-8 (no lone surrogate). It asks CPython for each string's UTF-8 form, which
 * CPython keeps with the string: the msgpack encoder of the worker process and the SQLite
 * driver then reuse it instead of encoding the same text again. The pure-Python check in
 * checks.py gives the same answers (the tests compare them).
 *
 * storable_payload(payload, limit) -> bool: True when the bytes are well-formed UTF-8 without
 * NUL, at most ``limit`` long: a post's raw copy is then the payload itself, stored as text
 * without being decoded into a str and encoded back.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static PyObject *storable(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    for (Py_ssize_t i = 0; i < nargs; i++) {
        PyObject *value = args[i];
        if (value == Py_None) continue;
        if (!PyUnicode_Check(value)) {
            PyErr_Format(PyExc_TypeError, "storable() expects str or None, not %.100s",
                         Py_TYPE(value)->tp_name);
            return NULL;
        }
        Py_ssize_t size;
        const char *utf8 = PyUnicode_AsUTF8AndSize(value, &size);
        if (!utf8) {
            if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return NULL;
            PyErr_Clear(); /* a lone surrogate */
            Py_RETURN_FALSE;
        }
        if (memchr(utf8, 0, (size_t)size)) Py_RETURN_FALSE;
    }
    Py_RETURN_TRUE;
}

/* Well-formed UTF-8 (Unicode 15, table 3-7: no overlong form, no surrogate, nothing past
 * U+10FFFF) holding no NUL. */
static int utf8_without_nul(const unsigned char *s, Py_ssize_t n) {
    Py_ssize_t i = 0;
    while (i < n) {
        /* Eight ASCII bytes at a time; a NUL among them is caught below, byte by byte. */
        while (i + 8 <= n) {
            uint64_t word;
            memcpy(&word, s + i, 8);
            if (word & 0x8080808080808080ULL) break;
            if ((word - 0x0101010101010101ULL) & ~word & 0x8080808080808080ULL) return 0;
            i += 8;
        }
        if (i >= n) break;
        unsigned char c = s[i];
        if (c < 0x80) {
            if (c == 0) return 0;
            i++;
            continue;
        }
        Py_ssize_t need;
        unsigned char low = 0x80, high = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0) low = 0xA0;
            if (c == 0xED) high = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0) low = 0x90;
            if (c == 0xF4) high = 0x8F;
        } else {
            return 0;
        }
        if (i + need >= n) return 0; /* truncated */
        if (s[i + 1] < low || s[i + 1] > high) return 0;
        for (Py_ssize_t k = 2; k <= need; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF) return 0;
        i += need + 1;
    }
    return 1;
}

static PyObject *storable_payload(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "storable_payload() takes bytes and a limit");
        return NULL;
    }
    Py_ssize_t limit = PyLong_AsSsize_t(args[1]);
    if (limit == -1 && PyErr_Occurred()) return NULL;
    Py_ssize_t size = PyBytes_GET_SIZE(args[0]);
    if (size > limit) Py_RETURN_FALSE;
    if (utf8_without_nul((const unsigned char *)PyBytes_AS_STRING(args[0]), size)) Py_RETURN_TRUE;
    Py_RETURN_FALSE;
}

static PyMethodDef methods[] = {
    {"storable_payload", (PyCFunction)(void (*)(void))storable_payload, METH_FASTCALL,
     "storable_payload(payload, limit) -> True when the bytes are UTF-8 without NUL, at most "
     "limit long"},
    {"storable", (PyCFunction)(void (*)(void))storable, METH_FASTCALL,
     "storable(*values) -> True when every value is None or a str without NUL or lone surrogate"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "_textcheck", "Compiled text check of veille.store.checks.", -1, methods,
};

PyMODINIT_FUNC PyInit__textcheck(void) { return PyModule_Create(&moduledef); }

/* Compiled text check of veille.store.checks: can both engines store these strings?
 *
 * storable(*values) -> bool: True when every value is None or a str that holds no NUL and
 * encodes to UTF-8 (no lone surrogate). It asks CPython for each string's UTF-8 form, which
 * CPython keeps with the string: the msgpack encoder of the worker process and the SQLite
 * driver then reuse it instead of encoding the same text again. The pure-Python check in
 * checks.py gives the same answers (the tests compare them).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
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

static PyMethodDef methods[] = {
    {"storable", (PyCFunction)(void (*)(void))storable, METH_FASTCALL,
     "storable(*values) -> True when every value is None or a str without NUL or lone surrogate"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "_textcheck", "Compiled text check of veille.store.checks.", -1, methods,
};

PyMODINIT_FUNC PyInit__textcheck(void) { return PyModule_Create(&moduledef); }

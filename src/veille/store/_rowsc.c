/* Compiled lean() of veille.store.rows: which columns of a round's new post rows to insert,
 * and the rows cut to them. A column that every row leaves at its default is left out of the
 * INSERT (the database then writes that default), which spares binding it for each row. In
 * Python the check costs ~6,000 machine instructions per post (one map/itemgetter call per
 * value); here it is a pointer comparison per value for the usual singletons. The tests compare
 * both on generated rows.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* lean(rows, defaults) -> (kept positions, rows cut to them)
 * rows: a non-empty list of tuples of one width; defaults: a tuple of (position, value). */
static PyObject *lean(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "lean() takes rows and defaults");
        return NULL;
    }
    PyObject *rows = args[0], *defaults = args[1];
    if (!PyList_Check(rows) || !PyTuple_Check(defaults)) {
        PyErr_SetString(PyExc_TypeError, "lean() expects a list of rows and a tuple of defaults");
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(rows);
    if (count == 0) {
        PyErr_SetString(PyExc_ValueError, "lean() needs at least one row");
        return NULL;
    }
    PyObject *first = PyList_GET_ITEM(rows, 0);
    if (!PyTuple_Check(first)) {
        PyErr_SetString(PyExc_TypeError, "lean() rows must be tuples");
        return NULL;
    }
    Py_ssize_t width = PyTuple_GET_SIZE(first);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *row = PyList_GET_ITEM(rows, i);
        if (!PyTuple_Check(row) || PyTuple_GET_SIZE(row) != width) {
            PyErr_Format(PyExc_ValueError, "lean() row %zd is not a tuple of %zd values", i, width);
            return NULL;
        }
    }
    char *keep = PyMem_Malloc(width ? width : 1);
    if (!keep) return PyErr_NoMemory();
    memset(keep, 1, width);
    Py_ssize_t kept_count = width;
    PyObject *result = NULL, *kept = NULL, *cut = NULL;
    for (Py_ssize_t d = 0; d < PyTuple_GET_SIZE(defaults); d++) {
        PyObject *pair = PyTuple_GET_ITEM(defaults, d);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
            PyErr_SetString(PyExc_TypeError, "lean() defaults must be (position, value) pairs");
            goto done;
        }
        Py_ssize_t at = PyLong_AsSsize_t(PyTuple_GET_ITEM(pair, 0));
        if (at == -1 && PyErr_Occurred()) goto done;
        if (at < 0 || at >= width) {
            PyErr_Format(PyExc_IndexError, "lean() default position %zd outside %zd columns", at,
                         width);
            goto done;
        }
        PyObject *value = PyTuple_GET_ITEM(pair, 1);
        int all = 1;
        for (Py_ssize_t i = 0; i < count && all; i++) {
            PyObject *item = PyTuple_GET_ITEM(PyList_GET_ITEM(rows, i), at);
            if (item == value) continue;
            int equal = PyObject_RichCompareBool(item, value, Py_EQ);
            if (equal < 0) goto done;
            all = equal;
        }
        if (all && keep[at]) {
            keep[at] = 0;
            kept_count--;
        }
    }
    kept = PyTuple_New(kept_count);
    if (!kept) goto done;
    for (Py_ssize_t at = 0, k = 0; at < width; at++) {
        if (!keep[at]) continue;
        PyObject *position = PyLong_FromSsize_t(at);
        if (!position) goto done;
        PyTuple_SET_ITEM(kept, k++, position);
    }
    if (kept_count == width) {
        Py_INCREF(rows);
        cut = rows;
    } else {
        cut = PyList_New(count);
        if (!cut) goto done;
        for (Py_ssize_t i = 0; i < count; i++) {
            PyObject *row = PyList_GET_ITEM(rows, i);
            PyObject *lean_row = PyTuple_New(kept_count);
            if (!lean_row) goto done;
            for (Py_ssize_t at = 0, k = 0; at < width; at++) {
                if (!keep[at]) continue;
                PyObject *item = PyTuple_GET_ITEM(row, at);
                Py_INCREF(item);
                PyTuple_SET_ITEM(lean_row, k++, item);
            }
            PyList_SET_ITEM(cut, i, lean_row);
        }
    }
    result = PyTuple_Pack(2, kept, cut);
done:
    PyMem_Free(keep);
    Py_XDECREF(kept);
    Py_XDECREF(cut);
    return result;
}

static PyMethodDef methods[] = {
    {"lean", (PyCFunction)(void (*)(void))lean, METH_FASTCALL,
     "lean(rows, defaults) -> (kept positions, rows cut to them)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "_rowsc", "Compiled row helpers of veille.store.rows.", -1, methods,
};

PyMODINIT_FUNC PyInit__rowsc(void) { return PyModule_Create(&moduledef); }

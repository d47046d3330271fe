/* Compiled word cutter for veille.normalise.fold: the same algorithm as fold_python, in C.
 *
 * Character folding itself stays in Python (fold_table.FOLDS and folded_class): this helper
 * only caches their answers and runs the loop, so both implementations cut words identically.
 * The tests compare them on every code point and on generated text.
 *
 * fold(text) -> Folded: built here, its slots set directly (a Python __init__ and the wrapper
 * that called it cost ~1,000 machine instructions per post more).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#include <structmember.h>

/* The Folded class, its empty hashtag set, and where each of its slots lives in an instance. */
static PyTypeObject *folded_type = NULL;
static PyObject *no_tags = NULL;
enum { SLOT_SCAN, SLOT_HASHTAGS, SLOT_FLAT, SLOT_TOKENS, SLOT_SPANS, SLOT_STARTS, SLOTS };
static const char *slot_names[SLOTS] = {"scan", "hashtags", "_flat", "_tokens", "_spans", "_starts"};
static Py_ssize_t slot_offset[SLOTS];

static PyObject *folds = NULL;        /* FoldTable: code point -> folded str */
static PyObject *class_of = NULL;     /* folded_class(char) -> one-letter class */
static Py_UCS4 ascii_fold[128];
static char ascii_class[128];
static char bmp_class[65536];         /* class of a folded BMP character, 0 = not cached yet */
static PyObject *bmp_fold[65536];     /* folded str of a BMP code point (new reference), NULL = not
                                         cached yet: saves an int object and a dict lookup for each
                                         accented letter */

typedef struct {
    Py_UCS4 *chars;
    char *cls;
    Py_ssize_t *start, *end;
    Py_ssize_t len, cap;
} Buffer;

static int buffer_grow(Buffer *b, Py_ssize_t need) {
    if (b->len + need <= b->cap) return 0;
    Py_ssize_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + need) cap *= 2;
    Py_UCS4 *chars = PyMem_Realloc(b->chars, cap * sizeof(Py_UCS4));
    if (!chars) return -1;
    b->chars = chars;
    char *cls = PyMem_Realloc(b->cls, cap);
    if (!cls) return -1;
    b->cls = cls;
    Py_ssize_t *start = PyMem_Realloc(b->start, cap * sizeof(Py_ssize_t));
    if (!start) return -1;
    b->start = start;
    Py_ssize_t *end = PyMem_Realloc(b->end, cap * sizeof(Py_ssize_t));
    if (!end) return -1;
    b->end = end;
    b->cap = cap;
    return 0;
}

static void buffer_free(Buffer *b) {
    PyMem_Free(b->chars);
    PyMem_Free(b->cls);
    PyMem_Free(b->start);
    PyMem_Free(b->end);
}

static char class_via_python(Py_UCS4 c) {
    PyObject *s = PyUnicode_FromOrdinal((int)c);
    if (!s) return 0;
    PyObject *r = PyObject_CallOneArg(class_of, s);
    Py_DECREF(s);
    if (!r) return 0;
    char out = 0;
    if (PyUnicode_Check(r) && PyUnicode_GET_LENGTH(r) == 1) {
        out = (char)PyUnicode_READ_CHAR(r, 0);
    } else {
        PyErr_SetString(PyExc_TypeError, "folded_class must return one character");
    }
    Py_DECREF(r);
    return out;
}

static char class_of_char(Py_UCS4 c) {
    if (c < 128) return ascii_class[c];
    if (c < 65536) {
        if (!bmp_class[c]) bmp_class[c] = class_via_python(c);
        return bmp_class[c];
    }
    return class_via_python(c);
}

/* Append the folded form of original character i (code point cp) to the buffer. */
/* The folded form of a non-ASCII code point, as a new reference (NULL with an exception set). */
static PyObject *folded_of(Py_UCS4 cp) {
    if (cp < 65536 && bmp_fold[cp]) {
        Py_INCREF(bmp_fold[cp]);
        return bmp_fold[cp];
    }
    PyObject *key = PyLong_FromUnsignedLong(cp);
    if (!key) return NULL;
    PyObject *out = PyObject_GetItem(folds, key);
    Py_DECREF(key);
    if (!out) return NULL;
    if (!PyUnicode_Check(out)) {
        Py_DECREF(out);
        PyErr_SetString(PyExc_TypeError, "fold table values must be str");
        return NULL;
    }
    if (cp < 65536) {
        Py_INCREF(out);
        bmp_fold[cp] = out;
    }
    return out;
}

static int fold_one(Buffer *b, Py_UCS4 cp, Py_ssize_t i) {
    if (cp < 128) {
        /* The buffer starts with room for every character; only expansions make it grow. */
        if (b->len >= b->cap && buffer_grow(b, 1) < 0) return -1;
        b->chars[b->len] = ascii_fold[cp];
        b->cls[b->len] = ascii_class[cp];
        b->start[b->len] = i;
        b->end[b->len] = i + 1;
        b->len++;
        return 0;
    }
    PyObject *out = folded_of(cp);
    if (!out) return -1;
    Py_ssize_t n = PyUnicode_GET_LENGTH(out);
    if (n == 0) {
        if (b->len) b->end[b->len - 1] = i + 1; /* invisible: stretch what precedes it */
        Py_DECREF(out);
        return 0;
    }
    if (buffer_grow(b, n) < 0) {
        Py_DECREF(out);
        return -1;
    }
    for (Py_ssize_t k = 0; k < n; k++) {
        Py_UCS4 c = PyUnicode_READ_CHAR(out, k);
        char cls = class_of_char(c);
        if (!cls) {
            Py_DECREF(out);
            return -1;
        }
        b->chars[b->len] = c;
        b->cls[b->len] = cls;
        b->start[b->len] = i;
        b->end[b->len] = i + 1;
        b->len++;
    }
    Py_DECREF(out);
    return 0;
}

static Py_ssize_t word_run(const char *cls, Py_ssize_t p, Py_ssize_t n) {
    while (p < n && cls[p] == 'w') p++;
    return p;
}

static PyObject *fold(PyObject *module, PyObject *text) {
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "fold() expects str");
        return NULL;
    }
    if (!folds || !class_of || !folded_type) {
        PyErr_SetString(PyExc_RuntimeError, "_foldc.init() was not called");
        return NULL;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Buffer b = {0};
    if (buffer_grow(&b, n + 1) < 0) goto nomem;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (fold_one(&b, PyUnicode_READ(kind, data, i), i) < 0) goto fail;
    }

    /* Cut tokens exactly like (?<!w)#w+|(?<!w)@w+(?:[j@]w+)*|w+ over the class string. */
    Py_ssize_t m = b.len;
    const char *cls = b.cls;
    Py_UCS4 *scan = PyMem_Malloc((2 * m + 2) * sizeof(Py_UCS4));
    /* Start and end of each token, turned into the list once at the end (no appends). */
    Py_ssize_t *flat = PyMem_Malloc((2 * m + 2) * sizeof(Py_ssize_t));
    PyObject *tags = PyList_New(0);
    if (!scan || !flat || !tags) {
        PyMem_Free(scan);
        PyMem_Free(flat);
        Py_XDECREF(tags);
        if (!PyErr_Occurred()) PyErr_NoMemory();
        goto fail;
    }
    Py_ssize_t scan_len = 0;
    Py_ssize_t tokens = 0, p = 0;
    scan[scan_len++] = ' ';
    while (p < m) {
        Py_ssize_t s = p, e = -1, text_from = p;
        int tag = 0;
        int after_word = p > 0 && cls[p - 1] == 'w';
        if (cls[p] == '#' && !after_word && p + 1 < m && cls[p + 1] == 'w') {
            e = word_run(cls, p + 1, m);
            text_from = p + 1;
            tag = 1;
        } else if (cls[p] == '@' && !after_word && p + 1 < m && cls[p + 1] == 'w') {
            e = word_run(cls, p + 1, m);
            while (e + 1 < m && (cls[e] == 'j' || cls[e] == '@') && cls[e + 1] == 'w') {
                e = word_run(cls, e + 1, m);
            }
        } else if (cls[p] == 'w') {
            e = word_run(cls, p, m);
        }
        if (e < 0) {
            p++;
            continue;
        }
        if (tokens) scan[scan_len++] = ' ';
        for (Py_ssize_t k = text_from; k < e; k++) scan[scan_len++] = b.chars[k];
        flat[2 * tokens] = b.start[s];
        flat[2 * tokens + 1] = b.end[e - 1];
        if (tag) {
            PyObject *index = PyLong_FromSsize_t(tokens);
            int bad = !index || PyList_Append(tags, index) < 0;
            Py_XDECREF(index);
            if (bad) {
                PyMem_Free(scan);
                PyMem_Free(flat);
                Py_DECREF(tags);
                goto fail;
            }
        }
        tokens++;
        p = e;
    }
    if (tokens) scan[scan_len++] = ' ';
    PyObject *scan_str = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, scan, scan_len);
    PyMem_Free(scan);
    buffer_free(&b);
    PyObject *spans = scan_str ? PyList_New(2 * tokens) : NULL;
    for (Py_ssize_t k = 0; spans && k < 2 * tokens; k++) {
        PyObject *number = PyLong_FromSsize_t(flat[k]);
        if (!number) {
            Py_CLEAR(spans);
            break;
        }
        PyList_SET_ITEM(spans, k, number);
    }
    PyMem_Free(flat);
    PyObject *hashtags = NULL;
    if (spans) {
        if (PyList_GET_SIZE(tags)) {
            hashtags = PyFrozenSet_New(tags);
        } else {
            Py_INCREF(no_tags);
            hashtags = no_tags;
        }
    }
    Py_DECREF(tags);
    PyObject *out = hashtags ? folded_type->tp_alloc(folded_type, 0) : NULL;
    if (!out) {
        Py_XDECREF(scan_str);
        Py_XDECREF(spans);
        Py_XDECREF(hashtags);
        return NULL;
    }
    PyObject *values[SLOTS] = {scan_str, hashtags, spans, Py_None, Py_None, Py_None};
    Py_INCREF(Py_None);
    Py_INCREF(Py_None);
    Py_INCREF(Py_None);
    for (int k = 0; k < SLOTS; k++) *(PyObject **)((char *)out + slot_offset[k]) = values[k];
    return out;

nomem:
    PyErr_NoMemory();
fail:
    buffer_free(&b);
    return NULL;
}

/* Where each slot of the Folded class lives: its member descriptors say. */
static int find_slots(PyTypeObject *type) {
    for (int k = 0; k < SLOTS; k++) {
        PyObject *descr = PyObject_GetAttrString((PyObject *)type, slot_names[k]);
        if (!descr) return -1;
        int ok = Py_IS_TYPE(descr, &PyMemberDescr_Type) &&
                 ((PyMemberDescrObject *)descr)->d_member->type == T_OBJECT_EX;
        if (ok) slot_offset[k] = ((PyMemberDescrObject *)descr)->d_member->offset;
        Py_DECREF(descr);
        if (!ok) {
            PyErr_Format(PyExc_TypeError, "Folded.%s must be a __slots__ attribute", slot_names[k]);
            return -1;
        }
    }
    return 0;
}

static PyObject *init(PyObject *module, PyObject *args) {
    PyObject *table, *classify, *type, *empty;
    if (!PyArg_ParseTuple(args, "OOO!O!", &table, &classify, &PyType_Type, &type,
                          &PyFrozenSet_Type, &empty))
        return NULL;
    if (find_slots((PyTypeObject *)type) < 0) return NULL;
    Py_INCREF(type);
    Py_XSETREF(folded_type, (PyTypeObject *)type);
    Py_INCREF(empty);
    Py_XSETREF(no_tags, empty);
    for (int c = 0; c < 128; c++) {
        PyObject *key = PyLong_FromLong(c);
        if (!key) return NULL;
        PyObject *out = PyObject_GetItem(table, key);
        Py_DECREF(key);
        if (!out) return NULL;
        if (!PyUnicode_Check(out) || PyUnicode_GET_LENGTH(out) != 1) {
            Py_DECREF(out);
            PyErr_SetString(PyExc_ValueError, "every ASCII character must fold to one character");
            return NULL;
        }
        ascii_fold[c] = PyUnicode_READ_CHAR(out, 0);
        Py_DECREF(out);
    }
    Py_XINCREF(table);
    Py_XSETREF(folds, table);
    Py_XINCREF(classify);
    Py_XSETREF(class_of, classify);
    memset(bmp_class, 0, sizeof(bmp_class));
    for (int c = 0; c < 65536; c++) Py_CLEAR(bmp_fold[c]);
    for (int c = 0; c < 128; c++) {
        char cls = class_via_python(ascii_fold[c]);
        if (!cls) return NULL;
        ascii_class[c] = cls;
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"fold", fold, METH_O, "fold(text) -> Folded"},
    {"init", init, METH_VARARGS,
     "init(fold_table, folded_class, Folded, empty frozenset): give the tables and the class"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "_foldc", "Compiled word cutter of veille.normalise.fold.", -1, methods,
};

PyMODINIT_FUNC PyInit__foldc(void) { return PyModule_Create(&moduledef); }

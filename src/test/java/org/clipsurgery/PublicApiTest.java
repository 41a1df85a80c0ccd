package org.clipsurgery;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.lang.module.ModuleDescriptor;
import java.lang.reflect.Executable;
import java.lang.reflect.Field;
import java.lang.reflect.GenericArrayType;
import java.lang.reflect.Member;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.lang.reflect.TypeVariable;
import java.lang.reflect.WildcardType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The module's public API is what {@code module-info.java} exports, and nothing else leaks
 * through it: every type in a public signature of an exported package (parameters, results,
 * declared exceptions, fields, supertypes, type arguments) is itself exported by this module or
 * comes from the JDK modules the module reads transitively. The compiler enforces the boundary for
 * users; this test keeps internal types ({@code WeightStore}, {@code ModelConfig}, an engine, a
 * LibTorch or CUDA class) from appearing in the API by accident.
 */
class PublicApiTest {
    /** The JDK modules whose types may appear in the API: java.base, and java.desktop (BufferedImage), read transitively. */
    private static final Set<String> JDK_MODULES = Set.of("java.base", "java.desktop");

    static ModuleDescriptor descriptor() throws IOException {
        try (InputStream in = Files.newInputStream(Path.of("target", "classes", "module-info.class"))) {
            return ModuleDescriptor.read(in);
        }
    }

    static Set<String> exportedPackages() throws IOException {
        return descriptor().exports().stream().filter(e -> !e.isQualified()).map(ModuleDescriptor.Exports::source)
                .collect(Collectors.toCollection(TreeSet::new));
    }

    @Test
    void theModuleExportsTheFacadeAndWhatItsSignaturesNeedOnly() throws IOException {
        assertEquals(Set.of("org.clipsurgery", "org.clipsurgery.image", "org.clipsurgery.post", "org.clipsurgery.progress"),
                exportedPackages());
        assertEquals("org.clipsurgery", descriptor().name());
    }

    @Test
    void publicSignaturesOfExportedPackagesUseOnlyExportedTypes() throws Exception {
        Set<String> exported = exportedPackages();
        List<String> leaks = new ArrayList<>();
        int checked = 0;
        for (String pkg : exported) {
            for (Class<?> c : publicClasses(pkg)) {
                checked++;
                List<Type> used = new ArrayList<>();
                if (c.getGenericSuperclass() != null) used.add(c.getGenericSuperclass());
                used.addAll(List.of(c.getGenericInterfaces()));
                check(c.getName(), used, exported, leaks);
                for (Field f : c.getDeclaredFields()) {
                    if (visible(f)) check(c.getName() + "." + f.getName(), List.of(f.getGenericType()), exported, leaks);
                }
                for (Executable e : executables(c)) {
                    if (!visible(e)) continue;
                    List<Type> types = new ArrayList<>(List.of(e.getGenericParameterTypes()));
                    types.addAll(List.of(e.getGenericExceptionTypes()));
                    if (e instanceof Method m) types.add(m.getGenericReturnType());
                    check(c.getName() + "." + e.getName() + "()", types, exported, leaks);
                }
            }
        }
        assertTrue(checked > 10, "found only " + checked + " public classes: is target/classes the module?");
        assertTrue(leaks.isEmpty(), "internal types in the public API:\n  " + String.join("\n  ", leaks));
    }

    private static List<Executable> executables(Class<?> c) {
        return Stream.concat(Stream.of(c.getDeclaredConstructors()), Stream.of(c.getDeclaredMethods()))
                .filter(e -> !e.isSynthetic()).toList();
    }

    /** Public, or protected in a class users may extend. */
    private static boolean visible(Member m) {
        int mod = m.getModifiers();
        return Modifier.isPublic(mod)
                || (Modifier.isProtected(mod) && !Modifier.isFinal(m.getDeclaringClass().getModifiers()));
    }

    /** The public top-level and nested classes of a package, from the compiled classes. */
    private static List<Class<?>> publicClasses(String pkg) throws IOException, ClassNotFoundException {
        List<Class<?>> out = new ArrayList<>();
        Path dir = Path.of("target", "classes").resolve(pkg.replace('.', '/'));
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".class")).sorted().toList()) {
                String name = f.getFileName().toString().replaceAll("\\.class$", "");
                if (name.equals("package-info") || name.matches(".*\\$\\d.*")) continue; // anonymous and local classes
                Class<?> c = Class.forName(pkg + "." + name, false, PublicApiTest.class.getClassLoader());
                if (isPublicApi(c)) out.add(c);
            }
        }
        return out;
    }

    private static boolean isPublicApi(Class<?> c) {
        for (Class<?> k = c; k != null; k = k.getDeclaringClass()) {
            if (!Modifier.isPublic(k.getModifiers())) return false;
        }
        return true;
    }

    private static void check(String where, List<Type> types, Set<String> exported, List<String> leaks) {
        for (Type t : types) check(where, t, exported, leaks);
    }

    private static void check(String where, Type t, Set<String> exported, List<String> leaks) {
        if (t instanceof Class<?> c) {
            while (c.isArray()) c = c.getComponentType();
            if (c.isPrimitive()) return;
            String module = c.getModule().isNamed() ? c.getModule().getName() : null;
            if (JDK_MODULES.contains(module)) return;
            if (!exported.contains(c.getPackageName())) leaks.add(where + " uses " + c.getName());
        } else if (t instanceof ParameterizedType p) {
            check(where, p.getRawType(), exported, leaks);
            for (Type a : p.getActualTypeArguments()) check(where, a, exported, leaks);
        } else if (t instanceof GenericArrayType g) {
            check(where, g.getGenericComponentType(), exported, leaks);
        } else if (t instanceof WildcardType w) {
            for (Type b : w.getUpperBounds()) check(where, b, exported, leaks);
            for (Type b : w.getLowerBounds()) check(where, b, exported, leaks);
        } else if (t instanceof TypeVariable<?> v) {
            // Only the bounds' classes: a recursive bound (T extends Comparable<T>) would not end.
            for (Type b : v.getBounds()) {
                check(where, b instanceof ParameterizedType p ? p.getRawType() : b, exported, leaks);
            }
        }
    }
}
